package xenstore

// XenbusState is a split device's state in its frontend's and backend's
// "state" nodes (xen/include/public/io/xenbus.h). These are the one
// definition: the simulated drivers use them, and Lua reads them as
// xenstore.XENBUS_STATE (devices.STATE).
type XenbusState int

// The states of the handshake.
const (
	XenbusUnknown       XenbusState = 0
	XenbusInitialising  XenbusState = 1
	XenbusInitWait      XenbusState = 2
	XenbusInitialised   XenbusState = 3
	XenbusConnected     XenbusState = 4
	XenbusClosing       XenbusState = 5
	XenbusClosed        XenbusState = 6
	XenbusReconfiguring XenbusState = 7
	XenbusReconfigured  XenbusState = 8
)

// XenbusStates names them as Lua (and xenbus.h, less the prefix) does.
var XenbusStates = map[string]XenbusState{
	"Unknown": XenbusUnknown, "Initialising": XenbusInitialising, "InitWait": XenbusInitWait,
	"Initialised": XenbusInitialised, "Connected": XenbusConnected, "Closing": XenbusClosing,
	"Closed": XenbusClosed, "Reconfiguring": XenbusReconfiguring, "Reconfigured": XenbusReconfigured,
}
