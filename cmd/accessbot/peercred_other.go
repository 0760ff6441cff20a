//go:build !linux

package main

import (
	"errors"
	"net"
)

// peerUID refuses every connection where the caller's credentials cannot
// be read the Linux way: the admin socket must not trust a caller it
// cannot name. Without it, stop serve to run the operator commands.
func peerUID(*net.UnixConn) (int, error) {
	return 0, errors.New("the admin socket needs peer credentials (SO_PEERCRED), which this system does not offer: stop accessbot serve to run operator commands")
}
