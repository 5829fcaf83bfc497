module luxen

go 1.26.0

require (
	github.com/chzyer/readline v1.5.1
	github.com/yuin/gopher-lua v1.1.2
)

require golang.org/x/sys v0.49.0

require github.com/ulikunitz/xz v0.5.17 // indirect
