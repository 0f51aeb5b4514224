package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"mailroom/acl"
	"mailroom/sieve"
	"mailroom/store"
)

// sieveRequest is an operator's Sieve command, the same whether it is
// carried out here or by a running server through the admin socket.
type sieveRequest struct {
	Op      string `json:"op"` // list, get, put, activate
	Account string `json:"account"`
	Name    string `json:"name,omitempty"`
	Script  string `json:"script,omitempty"`
}

type sieveReply struct {
	Scripts []store.SieveScript `json:"scripts,omitempty"`
	Script  string              `json:"script,omitempty"`
}

// runSieve carries out req against a store; put compiles the script
// first, as ManageSieve's PUTSCRIPT does.
func runSieve(ctx context.Context, st *store.Store, dir *acl.Directory, req sieveRequest) (*sieveReply, error) {
	a, ok := dir.Lookup(req.Account)
	if !ok {
		return nil, fmt.Errorf("no account %q", req.Account)
	}
	switch req.Op {
	case "list":
		list, err := st.ListSieveScripts(ctx, a.Address)
		return &sieveReply{Scripts: list}, err
	case "get":
		src, err := st.GetSieveScript(ctx, a.Address, req.Name)
		if err != nil {
			return nil, fmt.Errorf("script %q: %w", req.Name, err)
		}
		return &sieveReply{Script: src}, nil
	case "put":
		if _, err := sieve.Compile(req.Script, nil); err != nil {
			return nil, err
		}
		return &sieveReply{}, st.PutSieveScript(ctx, a.Address, req.Name, req.Script)
	case "activate":
		if err := st.SetActiveSieveScript(ctx, a.Address, req.Name); err != nil {
			return nil, fmt.Errorf("script %q: %w", req.Name, err)
		}
		return &sieveReply{}, nil
	}
	return nil, fmt.Errorf("unknown sieve operation %q", req.Op)
}

const sieveUsage = `usage:
  mailroom sieve check FILE
  mailroom sieve list     [-c FILE] [-data DIR] ACCOUNT
  mailroom sieve get      [-c FILE] [-data DIR] ACCOUNT NAME
  mailroom sieve put      [-c FILE] [-data DIR] ACCOUNT NAME FILE   (FILE "-": standard input)
  mailroom sieve activate [-c FILE] [-data DIR] ACCOUNT [NAME]      (no NAME: deactivate)
Through the running server's admin socket, else on the data directory.
`

func cmdSieve(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, sieveUsage)
		return usageError{errors.New("missing operation")}
	}
	op := args[0]
	fs := flag.NewFlagSet("sieve "+op, flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	req := sieveRequest{Op: op}
	readFile := func(path string) (string, error) {
		var b []byte
		var err error
		if path == "-" {
			b, err = io.ReadAll(io.LimitReader(in, store.MaxSieveScriptSize+1))
		} else {
			b, err = os.ReadFile(path)
		}
		return string(b), err
	}
	switch {
	case op == "check" && len(rest) == 1:
		src, err := readFile(rest[0])
		if err != nil {
			return err
		}
		if _, err := sieve.Compile(src, nil); err != nil {
			return fmt.Errorf("%s: %w", rest[0], err)
		}
		fmt.Fprintln(out, "ok")
		return nil
	case op == "list" && len(rest) == 1:
		req.Account = rest[0]
	case op == "get" && len(rest) == 2:
		req.Account, req.Name = rest[0], rest[1]
	case op == "put" && len(rest) == 3:
		req.Account, req.Name = rest[0], rest[1]
		src, err := readFile(rest[2])
		if err != nil {
			return err
		}
		req.Script = src
	case op == "activate" && (len(rest) == 1 || len(rest) == 2):
		req.Account = rest[0]
		if len(rest) == 2 {
			req.Name = rest[1]
		}
	default:
		fmt.Fprint(out, sieveUsage)
		return usageError{errors.New("bad arguments")}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var reply *sieveReply
	if err := callOrRun(ctx, cfg, "sieve", req, &reply, func(ctx context.Context, st *store.Store, dir *acl.Directory) (*sieveReply, error) {
		return runSieve(ctx, st, dir, req)
	}); err != nil {
		return err
	}
	switch op {
	case "list":
		for _, s := range reply.Scripts {
			if s.Active {
				fmt.Fprintf(out, "%s\tactive\n", s.Name)
			} else {
				fmt.Fprintln(out, s.Name)
			}
		}
	case "get":
		fmt.Fprint(out, reply.Script)
	default:
		fmt.Fprintln(out, "ok")
	}
	return nil
}
