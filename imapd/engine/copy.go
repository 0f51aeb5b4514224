package engine

import (
	"bytes"
	"errors"
	"mailroom/imapd/part"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// destination resolves the target of COPY, MOVE and APPEND, which needs
// "i" (RFC 4314 §4); a missing one says TRYCREATE (RFC 9051 §6.4.7).
func (c *conn) destination(v proto.Value) (*place, error) {
	p, err := c.locateArg(v, acl.RightInsert, "add messages")
	if errors.Is(err, store.ErrNoMailbox) {
		return nil, no("TRYCREATE", "No such mailbox")
	}
	return p, err
}

// copyUID is the COPYUID response code (RFC 4315).
func copyUID(cp *store.Copied) string {
	src := make([]uint32, len(cp.Source))
	dst := make([]uint32, len(cp.Dest))
	for i := range cp.Source {
		src[i], dst[i] = uint32(cp.Source[i]), uint32(cp.Dest[i])
	}
	return "COPYUID " + strconv.FormatUint(uint64(cp.UIDValidity), 10) + " " + uidList(src) + " " + uidList(dst)
}

// uidList writes UIDs in their order (not sorted: COPYUID pairs them up).
func uidList(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteString(":" + strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

func cmdCopy(c *conn, cmd *proto.Command) error    { return c.copyMove(cmd, false, false) }
func cmdUIDCopy(c *conn, cmd *proto.Command) error { return c.copyMove(cmd, true, false) }
func cmdMove(c *conn, cmd *proto.Command) error    { return c.copyMove(cmd, false, true) }
func cmdUIDMove(c *conn, cmd *proto.Command) error { return c.copyMove(cmd, true, true) }

// copyMove is COPY and MOVE (RFC 9051 §6.4.7, §6.4.8; RFC 6851). MOVE
// takes messages away, so it needs "t" and "e" on the source; within one
// owner it never fails on quota (the store moves, it does not add).
func (c *conn) copyMove(cmd *proto.Command, uid, move bool) error {
	if len(cmd.Args) != 2 {
		return syntax(cmd.Name + " takes a sequence set and a mailbox")
	}
	uids, err := c.setArg(cmd.Args[0], uid)
	if err != nil {
		return err
	}
	src, err := c.selectedPlace()
	if err != nil {
		return err
	}
	want, what := acl.RightRead, "read messages"
	if move {
		if c.sel.readOnly {
			return no("CANNOT", "The mailbox is read-only")
		}
		want, what = acl.RightRead|acl.RightDeleteMsg|acl.RightExpunge, "move messages out"
	}
	if err := need(src, want, what); err != nil {
		return err
	}
	dp, err := c.destination(cmd.Args[1])
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	st := c.srv.opts.Store
	if !move || acl.Fold(dp.owner.Address) != acl.Fold(src.owner.Address) {
		if err := c.checkMessageQuota(dp.owner, len(uids)); err != nil {
			return err
		}
	}
	var cp *store.Copied
	switch {
	case move && dp.mailbox.ID == c.sel.id:
		// RFC 6851 allows a MOVE into the same mailbox: the messages get
		// new UIDs. The store moves between mailboxes, so copy, then
		// expunge the originals.
		// The store expunges only \Deleted messages.
		if cp, err = st.Copy(c.ctx, c.sel.id, uids, dp.mailbox.ID, 0); err == nil && len(cp.Source) > 0 {
			ctx := store.WithOrigin(c.ctx, c.sel)
			if _, err = st.StoreFlags(ctx, c.sel.id, cp.Source, store.FlagsAdd, store.Flags{Sys: store.FlagDeleted}, nil); err == nil {
				_, err = st.Expunge(c.ctx, c.sel.id, cp.Source)
			}
		}
	case move:
		cp, err = st.Move(c.ctx, c.sel.id, uids, dp.mailbox.ID, dp.owner.Plan.Quota)
	default:
		cp, err = st.Copy(c.ctx, c.sel.id, uids, dp.mailbox.ID, dp.owner.Plan.Quota)
	}
	if err != nil {
		return err
	}
	if len(cp.Source) == 0 {
		return nil
	}
	c.learnJunk(src.mailbox, dp.mailbox, cp.Dest)
	if move {
		c.audit(src, "move-out", auditUIDs(cp.Source)+" to "+dp.display)
		c.audit(dp, "move-in", auditUIDs(cp.Dest)+" from "+src.display)
	} else {
		c.audit(src, "copy-out", auditUIDs(cp.Source)+" to "+dp.display)
		c.audit(dp, "copy-in", auditUIDs(cp.Dest)+" from "+src.display)
	}
	if move {
		// COPYUID goes in an untagged OK before the EXPUNGEs (RFC 6851
		// §4.3), which announce sends after this command.
		c.enc.Raw("* OK [").Raw(copyUID(cp)).Raw("] Moved").CRLF()
		return nil
	}
	return ok(copyUID(cp), cmd.Name+" completed")
}

func cmdExpunge(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("EXPUNGE takes no arguments")
	}
	return c.expunge(nil)
}

// cmdUIDExpunge expunges only the given UIDs (RFC 4315).
func cmdUIDExpunge(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("UID EXPUNGE takes a UID set")
	}
	uids, err := c.setArg(cmd.Args[0], true)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	return c.expunge(uids)
}

// expunge removes \Deleted messages (within only, if not nil); the
// EXPUNGE responses come from announce, as for everyone's expunges.
func (c *conn) expunge(only []store.UID) error {
	if c.sel.readOnly {
		return no("CANNOT", "The mailbox is read-only")
	}
	p, err := c.selectedPlace()
	if err != nil {
		return err
	}
	if err := need(p, acl.RightExpunge, "expunge messages"); err != nil {
		return err
	}
	uids, err := c.deletedUIDs(c.sel, only)
	if err != nil || len(uids) == 0 {
		return err
	}
	done, err := c.srv.opts.Store.Expunge(c.ctx, c.sel.id, uids)
	if len(done) > 0 {
		c.audit(p, "expunge", auditUIDs(done))
	}
	return err
}

// cmdAppend: APPEND mailbox 1*([(flags)] [date-time] literal) (RFC 9051
// §6.3.12, RFC 3502 MULTIAPPEND): all the messages are stored in one
// transaction, or none. Each message literal was approved against
// APPENDLIMIT, and all of them against appendBudget, before the client
// sent them.
func cmdAppend(c *conn, cmd *proto.Command) error {
	args := cmd.Args
	if len(args) < 2 {
		return syntax("APPEND takes a mailbox and a message")
	}
	// The destination first: a missing one is TRYCREATE whatever the
	// messages (RFC 4469 §5).
	dp, err := c.destination(args[0])
	if err != nil {
		return err
	}
	var bodies [][]byte
	var msgs []store.NewMessage
	var nm store.NewMessage
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a.Kind == proto.Literal || a.IsAtom("CATENATE"):
			body := a.Bytes
			if a.Kind != proto.Literal {
				if i+1 == len(rest) || rest[i+1].Kind != proto.List {
					return syntax("CATENATE takes a list of parts")
				}
				i++
				var err error
				if body, err = c.catenate(rest[i].List); err != nil {
					return err
				}
			}
			if nm.InternalDate.IsZero() {
				nm.InternalDate = time.Now()
			}
			bodies, msgs = append(bodies, body), append(msgs, nm)
			nm = store.NewMessage{}
		case a.Kind == proto.List:
			var names []string
			for _, f := range a.List {
				if f.Kind != proto.Atom {
					return syntax("Flags are atoms")
				}
				fs := string(f.Bytes)
				if strings.HasPrefix(fs, `\`) && !isSystemFlag(fs) {
					return syntax("Invalid flag " + fs)
				}
				names = append(names, fs)
			}
			nm.Flags = store.ParseFlags(names)
		case a.Kind == proto.Quoted:
			t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", string(a.Bytes))
			if err != nil {
				return syntax("Invalid date-time")
			}
			nm.InternalDate = t
		default:
			return syntax("APPEND takes optional flags and a date-time before each message")
		}
	}
	if last := args[len(args)-1]; len(bodies) == 0 || last.Kind != proto.Literal && last.Kind != proto.List {
		return syntax("Each message must be a literal or CATENATE, and one must end the command")
	}
	if len(bodies) == 1 && dp.mailbox.SpecialUse == store.SpecialSent {
		if uid, found := c.alreadySent(dp.mailbox, bodies[0]); found {
			return ok("APPENDUID "+formatUint(dp.mailbox.UIDValidity)+" "+formatUint(uid), "APPEND completed (the server had filed this message already)")
		}
	}
	if err := c.checkMessageQuota(dp.owner, len(bodies)); err != nil {
		return err
	}
	// With private \Seen, a \Seen given here is the user's own.
	seenUser, err := c.seenUser(dp.mailbox)
	if err != nil {
		return err
	}
	for i := range msgs {
		msgs[i].SeenBy = seenUser
	}
	ds, err := c.srv.opts.Store.AppendMany(c.ctx, dp.mailbox.ID, bodies, msgs, dp.owner.Plan.Quota)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(ds))
	for i, d := range ds {
		uids[i] = uint32(d.UID)
	}
	c.audit(dp, "append", "UID "+compactSet(uids))
	return ok("APPENDUID "+formatUint(ds[0].UIDValidity)+" "+compactSet(uids), "APPEND completed")
}

// learnJunk reports messages a user put into a \Junk mailbox as spam,
// and those taken out of one (not into Trash) as not spam, to the
// server's spam filter (Options.OnJunk), after the command's change is
// committed. The filter's training never holds the command up: OnJunk
// must not block.
func (c *conn) learnJunk(from, to *store.Mailbox, uids []store.UID) {
	learn := c.srv.opts.OnJunk
	if learn == nil || from.SpecialUse == to.SpecialUse {
		return
	}
	var spam bool
	switch {
	case to.SpecialUse == store.SpecialJunk:
		spam = true
	case from.SpecialUse == store.SpecialJunk && to.SpecialUse != store.SpecialTrash:
		spam = false
	default:
		return
	}
	err := c.srv.opts.Store.MessagesByUID(c.ctx, to.ID, uids, true, func(_ *store.Message, content []byte) error {
		learn(slices.Clone(content), spam)
		return nil
	})
	if err != nil {
		c.log.Warn("reading messages for the spam filter", "err", err)
	}
}

// sentWindow is how long after the server filed a sent copy a client's
// own APPEND of the same message to that Sent mailbox is taken as the same
// message.
const sentWindow = 10 * time.Minute

// alreadySent finds, among the last messages put into a Sent mailbox in
// the last sentWindow, one with msg's Message-ID: mail sent as a team
// address is filed in the team's Sent by the server (X-Mailroom-Sent-By),
// and a client that saves its own copy there as well must not make a
// second one. It answers with that message's UID.
func (c *conn) alreadySent(box *store.Mailbox, msg []byte) (store.UID, bool) {
	id, ok := part.SummaryGet(part.Summarize(msg), "Message-ID")
	if !ok || strings.TrimSpace(id) == "" {
		return 0, false
	}
	st := c.srv.opts.Store
	since := time.Now().Add(-sentWindow)
	var found store.UID
	top := box.UIDNext
	from := store.UID(1)
	if top > 50 {
		from = top - 50 // the last fifty at most
	}
	_ = st.Messages(c.ctx, box.ID, from, 0, func(m *store.Message) error {
		if m.SaveDate.Before(since) {
			return nil
		}
		if !bytes.Contains(m.Prefix, []byte("X-Mailroom-Sent-By:")) {
			return nil
		}
		content, err := st.Content(c.ctx, m)
		if err != nil {
			return nil
		}
		if got, ok := part.SummaryGet(part.Summarize(content), "Message-ID"); ok && strings.TrimSpace(got) == strings.TrimSpace(id) {
			found = m.UID
		}
		return nil
	})
	return found, found != 0
}
