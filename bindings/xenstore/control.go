// Requests about domains and the daemon rather than nodes: INTRODUCE,
// RELEASE, IS_DOMAIN_INTRODUCED, GET_DOMAIN_PATH, SET_TARGET, RESUME and
// XS_CONTROL (docs/misc/xenstore.txt). xenstored takes most of them from
// dom0 only.

package xenstore

import (
	"context"
	"strconv"
	"strings"
)

// Introduce tells xenstored about a new domain's ring page and event channel.
func (c *Client) Introduce(ctx context.Context, domid uint32, gfn uint64, port uint32) error {
	_, err := c.request(ctx, TypeIntroduce, 0, "", JoinStrings(domidArg(domid),
		strconv.FormatUint(gfn, 10), strconv.FormatUint(uint64(port), 10)))
	return err
}

// Release tells xenstored a domain is gone.
func (c *Client) Release(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, TypeRelease, 0, "", JoinStrings(domidArg(domid)))
	return err
}

// IsIntroduced asks whether xenstored knows the domain.
func (c *Client) IsIntroduced(ctx context.Context, domid uint32) (bool, error) {
	b, err := c.request(ctx, TypeIsDomainIntro, 0, "", JoinStrings(domidArg(domid)))
	if err != nil {
		return false, err
	}
	return strings.TrimRight(string(b), "\x00") == "T", nil
}

// GetDomainPath returns /local/domain/<domid> as xenstored names it.
func (c *Client) GetDomainPath(ctx context.Context, domid uint32) (string, error) {
	b, err := c.request(ctx, TypeGetDomainPath, 0, "", JoinStrings(domidArg(domid)))
	return strings.TrimRight(string(b), "\x00"), err
}

// SetTarget lets domid act with target's privileges (device-model stubdomains).
func (c *Client) SetTarget(ctx context.Context, domid, target uint32) error {
	_, err := c.request(ctx, TypeSetTarget, 0, "", JoinStrings(domidArg(domid), domidArg(target)))
	return err
}

// Resume clears a domain's shutdown flag in xenstored after a suspend was cancelled.
func (c *Client) Resume(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, TypeResume, 0, "", JoinStrings(domidArg(domid)))
	return err
}

// Control sends an XS_CONTROL command ("log", "print", "quota", ...) and
// returns the daemon's answer.
func (c *Client) Control(ctx context.Context, args ...string) (string, error) {
	b, err := c.request(ctx, TypeControl, 0, "", JoinStrings(args...))
	return strings.TrimRight(string(b), "\x00"), err
}

// domidArg is a domid as the wire carries it: decimal text.
func domidArg(d uint32) string { return strconv.FormatUint(uint64(d), 10) }
