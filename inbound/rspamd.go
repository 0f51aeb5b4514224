package inbound

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Limits of the rspamd client.
const (
	rspamdMaxReply = 1 << 20 // bytes of JSON read from rspamd
	rspamdTimeout  = 30 * time.Second
	maxSymbols     = 50 // symbols named in X-Spamd-Result
)

// Rspamd is a client of rspamd's HTTP protocol (POST /checkv2, the
// message as the body, the envelope in request headers).
type Rspamd struct {
	// URL is the base, e.g. "http://127.0.0.1:11333".
	URL string
	// TempFailOnError answers 451 when rspamd cannot be asked; by default
	// the message is accepted unscanned (and the failure logged).
	TempFailOnError bool
	// Client defaults to one with a 30s timeout.
	Client *http.Client
}

// SpamResult is what rspamd said.
type SpamResult struct {
	Action   string  // "no action", "add header", "rewrite subject", "greylist", "soft reject", "reject"
	Score    float64 //
	Required float64
	Header   []byte // X-Spamd-Result, X-Spam-Action and, for spam, X-Spam
	Err      string // rspamd could not be asked or did not answer well
}

type rspamdReply struct {
	Action        string  `json:"action"`
	Score         float64 `json:"score"`
	RequiredScore float64 `json:"required_score"`
	Symbols       map[string]struct {
		Score float64 `json:"score"`
	} `json:"symbols"`
}

// Check sends m to rspamd.
func (r *Rspamd) Check(ctx context.Context, m *Message) *SpamResult {
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: rspamdTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.URL, "/")+"/checkv2", bytes.NewReader(m.Data))
	if err != nil {
		return &SpamResult{Err: err.Error()}
	}
	if m.IP != nil {
		req.Header.Set("IP", m.IP.String())
	}
	req.Header.Set("Helo", headerSafe(m.Helo))
	req.Header.Set("From", headerSafe(m.MailFrom))
	for _, rc := range m.Rcpts {
		req.Header.Add("Rcpt", headerSafe(rc))
	}
	if m.User != "" {
		req.Header.Set("User", headerSafe(m.User))
	}
	resp, err := client.Do(req)
	if err != nil {
		return &SpamResult{Err: fmt.Sprintf("rspamd: %v", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, rspamdMaxReply))
	if err != nil {
		return &SpamResult{Err: fmt.Sprintf("rspamd: reading the reply: %v", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return &SpamResult{Err: fmt.Sprintf("rspamd: %s", resp.Status)}
	}
	var rep rspamdReply
	if err := json.Unmarshal(body, &rep); err != nil || rep.Action == "" {
		return &SpamResult{Err: "rspamd: reply without an action"}
	}
	res := &SpamResult{Action: rep.Action, Score: rep.Score, Required: rep.RequiredScore}
	res.Header = spamHeader(&rep)
	return res
}

// spamHeader is the fields that carry rspamd's verdict to the reader, in
// rspamd's own X-Spamd-Result format.
func spamHeader(rep *rspamdReply) []byte {
	spam := rep.Action != "no action" && rep.Action != "greylist"
	names := make([]string, 0, len(rep.Symbols))
	for n := range rep.Symbols {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > maxSymbols {
		names = names[:maxSymbols]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "X-Spamd-Result: default: %s [%.2f / %.2f]", map[bool]string{true: "True", false: "False"}[spam], rep.Score, rep.RequiredScore)
	for _, n := range names {
		fmt.Fprintf(&b, ";\r\n\t%s(%.2f)", headerSafe(n), rep.Symbols[n].Score)
	}
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "X-Spam-Action: %s\r\n", headerSafe(rep.Action))
	if spam {
		b.WriteString("X-Spam: Yes\r\n")
	}
	return b.Bytes()
}

// headerSafe keeps a value on one line.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// applySpam turns rspamd's action into the verdict's.
func (c *Checker) applySpam(v *Verdict) {
	s := v.Spam
	if s.Err != "" {
		c.opts.Logger.Warn("spam filter unavailable", "err", s.Err)
		if c.opts.Rspamd.TempFailOnError {
			v.decide(TempFail, "rspamd", 451, [3]int{4, 7, 1}, "Spam filter unavailable, try again later")
		}
		return
	}
	switch s.Action {
	case "reject":
		v.decide(Reject, "rspamd", 550, [3]int{5, 7, 1}, "Message refused as spam")
	case "soft reject", "greylist":
		v.decide(TempFail, "rspamd", 451, [3]int{4, 7, 1}, "Try again later")
	case "add header", "rewrite subject":
		v.decide(Junk, "rspamd", 0, [3]int{}, "")
	}
}

// Learner trains rspamd's classifier through its controller (POST
// /learnspam or /learnham with the message as the body).
type Learner struct {
	// URL is the controller's base, e.g. "http://127.0.0.1:11334".
	URL      string
	Password string
	Client   *http.Client
}

// Learn reports msg as spam or as ham. rspamd answering that it already
// learnt the message is success.
func (l *Learner) Learn(ctx context.Context, msg []byte, spam bool) error {
	client := l.Client
	if client == nil {
		client = &http.Client{Timeout: rspamdTimeout}
	}
	path := "/learnham"
	if spam {
		path = "/learnspam"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(l.URL, "/")+path, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	if l.Password != "" {
		req.Header.Set("Password", l.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("rspamd learn: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNoContent || bytes.Contains(body, []byte("already learned")):
		return nil
	}
	return fmt.Errorf("rspamd learn: %s: %s", resp.Status, strings.TrimSpace(string(body)))
}
