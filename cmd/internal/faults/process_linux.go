package faults

import (
	"os/exec"
	"syscall"
)

// dieWithSuite has the kernel kill cmd when the suite's process dies, so
// that a suite killed (a test timing out, Ctrl-C twice) leaves no service
// running behind it.
func dieWithSuite(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
