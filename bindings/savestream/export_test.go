package savestream

// XenVerifier is verifier for the external tests (sim_test.go).
var XenVerifier = verifier
