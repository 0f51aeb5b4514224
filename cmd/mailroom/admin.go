package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/store"
)

// The admin socket lets admin commands reach a running server instead of
// opening the database a second time. Protocol: one request line (a
// command word, then optionally a space and a JSON argument), one JSON
// response line {"ok":bool,"error":"...","data":...}.
// The socket is mode 0600 in the data directory: only the server's user
// may use it.

type adminServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

type adminResponse struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

func startAdmin(path string, s *server, log *slog.Logger) (*adminServer, error) {
	// A socket file left by a crashed server is stale: nothing answers it.
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another server is answering on it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	a := &adminServer{ln: ln}
	a.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.wg.Go(func() { s.serveAdmin(c, log) })
		}
	})
	return a, nil
}

func (a *adminServer) close() {
	a.ln.Close()
	a.wg.Wait()
}

func (s *server) serveAdmin(c net.Conn, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	var data any
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch cmd {
	case "stats":
		data, err = s.store.Stats(context.Background())
	case "queue":
		data, err = s.store.QueueEntries(context.Background())
	case "fsck":
		var req struct{ Repair bool }
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			data, err = runFsck(context.Background(), s.store, req.Repair)
		}
	case "sieve":
		var req sieveRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			data, err = runSieve(context.Background(), s.store, s.dir.Load(), req)
			if err == nil && req.Op != "list" && req.Op != "get" {
				log.Info("sieve changed by the operator", "account", req.Account, "op", req.Op, "name", req.Name)
			}
		}
	case "mailbox":
		var req mailboxRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			data, err = runMailbox(context.Background(), s.store, s.dir.Load(), req)
			if err == nil && req.Op != "list" {
				log.Info("mailbox changed by the operator", "account", req.Account, "op", req.Op, "name", req.Name, "to", req.To)
			}
		}
	case "audit":
		var req auditRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			if s.audit != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s.audit.sync(ctx)
				cancel()
			}
			data, err = readAudit(context.Background(), s.store, req)
		}
	case "acl":
		var req aclRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			data, err = runACL(context.Background(), s.store, s.dir.Load(), req)
			if err == nil && req.Op != "list" && (req.Op != "seen" || req.Seen != "") {
				log.Info("acl changed by the operator", "account", req.Account, "mailbox", req.Mailbox,
					"identifier", req.Identifier, "op", req.Op, "rights", req.Rights, "seen", req.Seen)
			}
		}
	case "account":
		var req accountRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			data, err = runAccount(context.Background(), s.store, s.dir.Load(), req)
			if err == nil && req.Op == "purge" {
				log.Info("account purged by the operator", "account", req.Address)
			}
		}
	case "import":
		c.SetDeadline(time.Time{}) // progress lines have their own
		ctx, cancel := context.WithCancel(context.Background())
		data, err = s.importAdmin(ctx, c, arg)
		cancel()
		c.SetDeadline(time.Now().Add(time.Minute))
	case "export":
		var req exportRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			c.SetDeadline(time.Time{})
			data, err = runExport(context.Background(), s.store, req)
			c.SetDeadline(time.Now().Add(time.Minute))
		}
	case "backup":
		var req backupRequest
		if err = json.Unmarshal([]byte(arg), &req); err == nil {
			c.SetDeadline(time.Time{}) // as long as the backup takes
			data, err = writeBackup(context.Background(), s.store, req)
			c.SetDeadline(time.Now().Add(time.Minute))
		}
	default:
		err = fmt.Errorf("unknown admin command %q", cmd)
	}
	resp := adminResponse{OK: err == nil}
	if err != nil {
		resp.Error = err.Error()
		log.Warn("admin command failed", "err", err)
	} else if resp.Data, err = json.Marshal(data); err != nil {
		resp = adminResponse{Error: err.Error()}
	}
	json.NewEncoder(c).Encode(resp)
}

// adminCall sends one command to a running server and decodes its data.
func adminCall(ctx context.Context, path, cmd string, out any) error {
	return adminCallArgs(ctx, path, cmd, nil, out)
}

// adminCallArgs sends a command with a JSON argument. It returns
// errNoSocket when no server answers, else the server's own error.
func adminCallArgs(ctx context.Context, path, cmd string, args, out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoSocket, err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Minute)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	c.SetDeadline(deadline)
	line := cmd
	if args != nil {
		line += " " + marshalArgs(args)
	}
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err
	}
	var resp adminResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return err
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	return json.Unmarshal(resp.Data, out)
}

// callOrRun asks a running server to carry out admin command cmd with
// args, its answer decoded into *out; when no server answers (no admin
// socket), it opens the data directory and runs local there itself, as
// the server would. Every operator command that works both ways goes
// through here.
func callOrRun[T any](ctx context.Context, cfg *config.Config, cmd string, args any, out *T, local func(context.Context, *store.Store, *acl.Directory) (T, error)) error {
	err := errNoSocket
	if sock := cfg.AdminSocket(); sock != "" {
		err = adminCallArgs(ctx, sock, cmd, args, out)
	}
	if !errors.Is(err, errNoSocket) {
		return err
	}
	dir, err := buildDirectory(cfg)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Dir: cfg.DataDir})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w, and its admin socket did not answer", err)
	}
	if err != nil {
		return err
	}
	*out, err = local(ctx, st, dir)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}
