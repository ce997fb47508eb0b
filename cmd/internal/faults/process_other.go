//go:build !linux

package faults

import "os/exec"

// dieWithSuite does nothing where the kernel cannot tie a child's life to
// its parent's: a suite killed there may leave its programs running.
func dieWithSuite(*exec.Cmd) {}
