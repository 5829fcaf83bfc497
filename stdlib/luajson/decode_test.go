package luajson

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// equal compares two Lua values made of tables, strings, numbers and bools.
func equal(a, b lua.LValue) bool {
	ta, ok1 := a.(*lua.LTable)
	tb, ok2 := b.(*lua.LTable)
	if ok1 != ok2 {
		return false
	}
	if !ok1 {
		return a == b
	}
	same := true
	n := 0
	ta.ForEach(func(k, v lua.LValue) {
		n++
		if !equal(v, tb.RawGet(k)) {
			same = false
		}
	})
	tb.ForEach(func(lua.LValue, lua.LValue) { n-- })
	return same && n == 0
}

// viaGo is what the json module did before Decode: encoding/json, then FromGo.
func viaGo(L *lua.LState, b []byte) (lua.LValue, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return lua.LNil, err
	}
	return FromGo(L, v), nil
}

func checkSame(t *testing.T, L *lua.LState, in string) {
	t.Helper()
	got, err := Decode(L, []byte(in))
	want, werr := viaGo(L, []byte(in))
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: Decode error %v, encoding/json error %v", in, err, werr)
	}
	if err == nil && !equal(got, want) {
		t.Fatalf("%q: Decode and encoding/json disagree", in)
	}
}

var samples = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `"x"`, ` {"a" : [1, 2, {"b": null}], "c": "d"} `,
	`{"name":"web","devices":{"vbd/51712":{"class":"vbd","fields":{"target":"/img","vdev":"xvda"}}},"restarts":[1.5,2]}`,
	`"\u00e9\ud83d\ude00\n\t\"\\\/"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `[1,null,3]`, `{"a":1,"a":2}`,
	// refused by both
	`{`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, "\"a\x01\"", `{"a" 1}`, `[1 2]`, `tru`, `nul`,
	`{} x`, `"abc`, `1e999`, `{"a":}`, `{1:2}`, ``, `   `,
}

func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for _, s := range samples {
		checkSame(t, L, s)
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := Decode(L, []byte(deep)); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("%d levels: %v", maxDepth+1, err)
	}
	if _, err := Decode(L, []byte(`{"a": [1, 2,]}`)); err == nil || !strings.Contains(err.Error(), "offset 12") {
		t.Errorf("the error names the offset: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // encoding/json turns invalid UTF-8 into U+FFFD; Decode keeps the bytes
		}
		L := lua.NewState()
		defer L.Close()
		if strings.Count(s, "[")+strings.Count(s, "{") > maxDepth {
			return // encoding/json nests deeper
		}
		checkSame(t, L, s)
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := []byte(`{"config":{"memory":16,"maxmem":16,"name":"bench","on_crash":"destroy","on_poweroff":"destroy",` +
		`"on_reboot":"restart","source":"(table)","type":"pvh","vcpus":1,"maxvcpus":1},"console_offset":0,` +
		`"created":1796277481.64,"devices":{},"domid":2,"name":"bench","restarts":[],"uuid":"4113c772-18be-437b-b565-23e00f2e21d4"}`)
	L := lua.NewState()
	defer L.Close()
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			Decode(L, rec)
		}
	})
	b.Run("encoding-json+FromGo", func(b *testing.B) {
		for b.Loop() {
			viaGo(L, rec)
		}
	})
}
