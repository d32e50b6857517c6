// Package uapicheck pairs the Go protocol constants with the C uapi
// header's, compiled by cgo; its test proves they agree. Not for use
// outside tests.
package uapicheck
