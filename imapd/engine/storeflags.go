package engine

import (
	"slices"
	"strings"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

func cmdStore(c *conn, cmd *proto.Command) error    { return c.storeFlags(cmd, false) }
func cmdUIDStore(c *conn, cmd *proto.Command) error { return c.storeFlags(cmd, true) }

// storeFlags is STORE and UID STORE (RFC 9051 §6.4.6). Each flag needs its
// right (RFC 4314 §4: s for \Seen, t for \Deleted, w for the rest); flags
// the user may not change are left as they were, and a user who may
// change none of the named flags gets NO [NOPERM].
func (c *conn) storeFlags(cmd *proto.Command, uid bool) error {
	// RFC 7162 §3.1.3: STORE set (UNCHANGEDSINCE n) action flags.
	var unchangedSince *uint64
	if len(cmd.Args) >= 2 && cmd.Args[1].Kind == proto.List {
		mods := cmd.Args[1].List
		if len(mods) != 2 || !mods[0].IsAtom("UNCHANGEDSINCE") {
			return syntax("Unknown STORE modifier")
		}
		n, ok := mods[1].Number64()
		if !ok {
			return syntax("UNCHANGEDSINCE takes a mod-sequence")
		}
		unchangedSince = &n
		cmd.Args = append(cmd.Args[:1:1], cmd.Args[2:]...)
		if err := c.enableCondstore(); err != nil {
			return err
		}
	}
	if len(cmd.Args) != 3 {
		return syntax("STORE takes a sequence set, an action and flags")
	}
	if c.sel.readOnly {
		return no("READ-ONLY", "The mailbox is read-only")
	}
	action := cmd.Args[1].Upper()
	silent := strings.HasSuffix(action, ".SILENT")
	var op store.FlagOp
	switch strings.TrimSuffix(action, ".SILENT") {
	case "FLAGS":
		op = store.FlagsSet
	case "+FLAGS":
		op = store.FlagsAdd
	case "-FLAGS":
		op = store.FlagsRemove
	default:
		return syntax("STORE action must be FLAGS, +FLAGS or -FLAGS")
	}
	var names []string
	flagVals := cmd.Args[2:]
	if cmd.Args[2].Kind == proto.List {
		flagVals = cmd.Args[2].List
	}
	for _, v := range flagVals {
		if v.Kind != proto.Atom {
			return syntax("Flags are atoms")
		}
		f := string(v.Bytes)
		if strings.HasPrefix(f, `\`) && !isSystemFlag(f) {
			if strings.EqualFold(f, `\Recent`) {
				return syntax(`\Recent cannot be stored`)
			}
			return syntax("Unknown system flag " + f)
		}
		names = append(names, f)
	}
	uids, err := c.setArg(cmd.Args[0], uid)
	if err != nil {
		return err
	}
	p, err := c.selectedPlace()
	if err != nil {
		return err
	}
	keep := allowedFlags(p.rights)
	if p.rights&(acl.RightSeen|acl.RightWrite|acl.RightDeleteMsg) == 0 {
		return no("NOPERM", "You may not change flags in "+p.display)
	}
	// With private \Seen, \Seen goes to the user's own state and the
	// answer shows the user's flags.
	changed, modified, err := c.storeFlagsIf(uids, op, store.ParseFlags(names), keep, unchangedSince)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		uids := make([]store.UID, len(changed))
		for i, m := range changed {
			uids[i] = m.UID
		}
		c.audit(p, "store", action+" ("+strings.Join(names, " ")+") "+auditUIDs(uids))
	}
	// A keyword new to the mailbox goes into FLAGS before any FETCH shows
	// it (the registry noted it when the change was published).
	if c.sel.takeNewKeywords() {
		c.writeFlags(c.sel)
	}
	for _, m := range changed {
		if silent && !c.condstore {
			break // with CONDSTORE, .SILENT still tells MODSEQ (RFC 7162 §3.1.3)
		}
		seq := c.sel.seq(m.UID)
		if seq == 0 {
			continue
		}
		c.tellKeywords(m.Flags)
		c.sel.supersede(m.UID, m.ModSeq)
		if told := c.fetchStart(seq, m.UID); (uid || c.qresync) && !told { // RFC 7162 §3.2.4
			c.enc.Raw("UID ").Number(uint64(m.UID)).SP()
		}
		if silent {
			c.enc.Raw("MODSEQ (").Number(m.ModSeq).Raw("))").CRLF()
			continue
		}
		c.enc.Raw("FLAGS ")
		c.writeFlagList(m.Flags, c.sel.recent[m.UID])
		c.writeModSeq(m.ModSeq)
		c.enc.Raw(")").CRLF()
	}
	if len(modified) > 0 {
		nums := make([]uint32, 0, len(modified))
		for _, u := range modified {
			if uid {
				nums = append(nums, uint32(u))
			} else if seq := c.sel.seq(u); seq > 0 {
				nums = append(nums, seq)
			}
		}
		slices.Sort(nums)
		return ok("MODIFIED "+compactSet(nums), "Conditional STORE failed for some messages")
	}
	return nil
}

func isSystemFlag(f string) bool {
	for s := range strings.FieldsSeq(systemFlags) {
		if strings.EqualFold(f, s) {
			return true
		}
	}
	return false
}

// allowedFlags keeps, of a proposed change, only what the rights allow.
func allowedFlags(r acl.Rights) func(old, proposed store.Flags) store.Flags {
	return func(old, proposed store.Flags) store.Flags {
		out := proposed
		if !r.Has(acl.RightSeen) {
			out.Sys = out.Sys&^store.FlagSeen | old.Sys&store.FlagSeen
		}
		if !r.Has(acl.RightDeleteMsg) {
			out.Sys = out.Sys&^store.FlagDeleted | old.Sys&store.FlagDeleted
		}
		if !r.Has(acl.RightWrite) {
			const others = store.FlagAnswered | store.FlagFlagged | store.FlagDraft
			out.Sys = out.Sys&^others | old.Sys&others
			out.Keywords = old.Keywords
		}
		return out
	}
}
