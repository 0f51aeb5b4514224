package sieve

// Limits bound what a script may cost, at compile time and at run time.
// A limit reached at compile time is a *SyntaxError; at run time it is an
// error from Run, and the message is kept (RFC 5228 §2.10.6).
type Limits struct {
	// Compile time.
	MaxScriptSize int // bytes of source
	MaxNesting    int // depth of blocks and nested tests
	MaxStringLen  int // bytes in one string
	MaxListLen    int // strings in one list
	MaxCommands   int // commands and tests in one script

	// Run time.
	MaxSteps        int // commands and tests evaluated, and comparisons made, over all included scripts
	MaxActions      int // actions (keep, fileinto, redirect, vacation, ...)
	MaxRedirects    int // redirect actions
	MaxIncludeDepth int // include nesting (RFC 6609 §3.2)
	MaxIncludes     int // include commands executed
	MaxVariables    int // distinct variables
	MaxVariableLen  int // bytes in one variable's value (longer values are truncated, RFC 5229 §6)
	MaxHeaderEdits  int // addheader and deleteheader applications
	MaxBodyBytes    int // bytes of body examined by the body test
}

// DefaultLimits are generous for hand-written scripts and small enough
// that one delivery cannot be made to take long.
var DefaultLimits = Limits{
	MaxScriptSize: 256 << 10,
	MaxNesting:    32,
	MaxStringLen:  64 << 10,
	MaxListLen:    1024,
	MaxCommands:   10000,

	MaxSteps:        200000,
	MaxActions:      64,
	MaxRedirects:    4,
	MaxIncludeDepth: 5,
	MaxIncludes:     32,
	MaxVariables:    256,
	MaxVariableLen:  4096,
	MaxHeaderEdits:  64,
	MaxBodyBytes:    1 << 20,
}
