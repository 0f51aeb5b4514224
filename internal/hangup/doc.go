// Package hangup tells a server that a client went away while a command
// runs, so that an abandoned SEARCH or FETCH stops instead of running to
// its end. Nothing reads the socket while a command runs; a command that
// runs longer than hangupCheckAfter starts a watcher that asks the
// kernel, without consuming input, whether the peer has closed the
// connection (its FIN or RST), every hangupPoll. Short commands pay for a
// timer only. A client that half-closes after sending its commands is
// taken to have gone away, as net/http does.
package hangup
