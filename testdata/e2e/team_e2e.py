"""Issue 14's proof with Python's imaplib and smtplib: a team runs info@.

Usage: team_e2e.py HOST IMAP_PORT SMTP_PORT SUBMISSION_PORT MAILROOM CONFIG DATA_DIR
Runs against a fresh data directory on the development configuration
(every password "password"; info@example.test, a team account, shared
with group staff: alice and bob; carol in another group). MAILROOM,
CONFIG and DATA_DIR run `mailroom audit`. Prints "ok" and exits 0 when
every step behaves as the issue says; otherwise prints every failure.

The team scenario: fresh accounts have their special folders subscribed
(LSUB), bob every team folder; bob creates Shared/info@.../Orders and
alice Shared/info@.../INBOX/Urgent, both see both; two customer mails,
bob moves one to Orders and deletes the other into the team's \\Trash;
`mailroom audit` names who did each; bob replies as info@ and his client
appends its own copy: info@'s Sent holds one, naming bob.
The assistant scenario: alice delegates her INBOX to bob with private
\\Seen (SETACL, SETMETADATA); bob reads three of four messages; alice's
STATUS UNSEEN is unchanged, bob's lower.
"""
import imaplib
import json
import re
import smtplib
import subprocess
import sys

host, imap_port, mx_port, sub_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mailroom, config, data_dir = sys.argv[5], sys.argv[6], sys.argv[7]
ROOT = "Shared/info@example.test/"
ALICE_INBOX = '"Other Users/alice@example.test/INBOX"'
PERSONAL = ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
failures = []


def q(name):
    return '"' + name + '"'


def check(cond, what):
    """Records a failure and goes on, so one run shows every failure."""
    if not cond:
        failures.append(what)
    return cond


def must(cond, what):
    if not cond:
        failures.append(what)
        done()


def done():
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("ok")
    sys.exit(1 if failures else 0)


def ok(resp, what):
    typ, data = resp
    must(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def login(user):
    m = imaplib.IMAP4(host, imap_port)
    ok(m.login(user, "password"), "LOGIN " + user)
    return m


LIST_LINE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>"(?:[^"\\]|\\.)*"|\S+)$')


def mailboxes(m, command, pattern):
    """name -> attributes, from LIST or LSUB."""
    typ, data = getattr(m, command)('""', pattern)
    must(typ == "OK", "%s %s: %s %r" % (command, pattern, typ, data))
    out = {}
    for line in data:
        if line is None:
            continue
        mt = LIST_LINE.match(line)
        must(mt is not None, "%s line %r" % (command, line))
        name = mt.group("name").decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[name] = mt.group("attrs").decode().split()
    return out


def lsub(m, pattern="*"):
    return {n for n, attrs in mailboxes(m, "lsub", pattern).items() if "\\Noselect" not in attrs}


def count(m, box, item):
    data = ok(m.status(q(box), "(%s)" % item), "STATUS %s %s" % (box, item))
    return int(re.search(rb"%s (\d+)" % item.encode(), data[0]).group(1))


def mx(sender, rcpt, msg):
    with smtplib.SMTP(host, mx_port) as s:
        s.sendmail(sender, [rcpt], msg)


def submit(user, sender, rcpt, msg):
    with smtplib.SMTP(host, sub_port) as s:
        s.login(user, "password")
        s.sendmail(sender, [rcpt], msg)


alice, bob, carol = login("alice@example.test"), login("bob@example.test"), login("carol@other.test")

# Fresh accounts: the special folders subscribed (LSUB, as older clients
# ask); bob (and alice) every team folder.
for who, m in (("alice", alice), ("bob", bob), ("carol", carol)):
    subs = lsub(m)
    for name in PERSONAL:
        check(name in subs, "%s's fresh %s is not subscribed: LSUB %s" % (who, name, sorted(subs)))
team = set(mailboxes(bob, "list", q(ROOT + "*")))
bob_subs = lsub(bob)
check(all(ROOT + n in team for n in PERSONAL), "the team account's folders as bob lists them: %s" % sorted(team))
check(team <= bob_subs, "bob's unsubscribed team folders: %s" % sorted(team - bob_subs))
check(not any(n.startswith(("Shared/", "Other Users/")) for n in mailboxes(carol, "list", "*")), "carol lists shared folders")

# bob and alice create team folders; both see (and are subscribed to) both.
ok(bob.create(q(ROOT + "Orders")), "bob CREATE Orders")
ok(alice.create(q(ROOT + "INBOX/Urgent")), "alice CREATE INBOX/Urgent")
for who, m in (("alice", alice), ("bob", bob)):
    seen = mailboxes(m, "list", q(ROOT + "*"))
    subs = lsub(m)
    for name in (ROOT + "Orders", ROOT + "INBOX/Urgent"):
        check(name in seen, "%s does not list %s" % (who, name))
        check(name in subs, "%s is not subscribed to %s" % (who, name))
        typ, data = m.select(q(name))
        check(typ == "OK", "%s SELECT %s: %s %r" % (who, name, typ, data))

# Two customer mails; bob files one and deletes the other into the team's
# \Trash, which he finds as a client does (LIST RETURN (SPECIAL-USE)).
mx("customer@remote.test", "info@example.test",
   b"From: customer@remote.test\r\nTo: info@example.test\r\nSubject: Order 2002\r\n\r\nThree boxes.\r\n")
submit("carol@other.test", "carol@other.test", "info@example.test",
       b"From: carol@other.test\r\nTo: info@example.test\r\nSubject: Wrong colour\r\nMessage-ID: <colour-1@other.test>\r\n\r\nIt is red.\r\n")
ok(bob.select(q(ROOT + "INBOX")), "bob SELECT team INBOX")
data = ok(bob.uid("SEARCH", None, "SUBJECT", '"Order 2002"'), "UID SEARCH")
must(len(data[0].split()) == 1, "the order in the team INBOX: %r" % data)
order = data[0].decode()
data = ok(bob.uid("SEARCH", None, "SUBJECT", '"Wrong colour"'), "UID SEARCH")
must(len(data[0].split()) == 1, "the complaint in the team INBOX: %r" % data)
complaint = data[0].decode()
data = ok(bob.uid("MOVE", order, q(ROOT + "Orders")), "bob UID MOVE to Orders")
trash = [n for n, attrs in mailboxes(bob, "list", '"%s*" RETURN (SPECIAL-USE)' % ROOT).items() if "\\Trash" in attrs]
must(trash == [ROOT + "Trash"], "the team's \\Trash: %r" % trash)
ok(bob.uid("MOVE", complaint, q(trash[0])), "bob UID MOVE to the team's Trash")
for box, want in ((ROOT + "INBOX", 0), (ROOT + "Orders", 1), (ROOT + "Trash", 1)):
    n = count(alice, box, "MESSAGES")
    check(n == want, "alice's STATUS %s MESSAGES %d, want %d" % (box, n, want))
check(count(bob, "Trash", "MESSAGES") == 0, "bob's personal Trash is not empty")

# bob replies as info@; his client saves its own copy in the team's Sent.
reply = (b"From: Info Desk <info@example.test>\r\nTo: carol@other.test\r\nSubject: Re: Wrong colour\r\n"
         b"Message-ID: <colour-reply@example.test>\r\nIn-Reply-To: <colour-1@other.test>\r\n"
         b"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nA blue one is on its way.\r\n")
submit("bob@example.test", "info@example.test", "carol@other.test", reply)
data = ok(bob.append(q(ROOT + "Sent"), "(\\Seen)", None, reply), "bob APPEND to the team's Sent")
mt = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
must(mt is not None, "APPEND answer without APPENDUID: %r" % data)
ok(bob.select(q(ROOT + "Sent")), "bob SELECT team Sent")
uidvalidity = bob.response("UIDVALIDITY")[1][-1]
data = ok(bob.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER])"), "UID FETCH team Sent")
copies = [d for d in data if isinstance(d, tuple)]
check(len(copies) == 1, "info@'s Sent holds %d copies, want 1" % len(copies))
if copies:
    head = copies[0][1]
    check(b"X-Mailroom-Sent-By: bob@example.test\r\n" in head, "the team's copy does not name bob:\n%s" % head.decode())
    uid = re.search(rb"UID (\d+)", copies[0][0]).group(1)
    check((mt.group(1), mt.group(2)) == (uidvalidity, uid),
          "APPENDUID %s %s, the server's copy %s %s" % (mt.group(1), mt.group(2), uidvalidity, uid))
check(count(bob, "Sent", "MESSAGES") == 0, "bob's personal Sent is not empty")
ok(carol.select("INBOX"), "carol SELECT INBOX")
data = ok(carol.fetch("1:*", "(BODY.PEEK[HEADER])"), "carol FETCH")
got = [d[1] for d in data if isinstance(d, tuple)]
check(len(got) == 1 and b"bob" not in got[0].lower(), "what carol got names bob: %r" % got)

# Who did what, as the operator (and alice) read it.
out = subprocess.run([mailroom, "audit", "-c", config, "-data", data_dir, "-account", "info@example.test", "-json"],
                     capture_output=True, check=True).stdout.decode()
records = [json.loads(line) for line in out.splitlines() if line.strip()]


def audited(actor, action, mailbox, detail=""):
    return any(r["account"] == "info@example.test" and r["actor"] == actor and r["action"] == action
               and r.get("mailbox", "") == mailbox and detail in r.get("detail", "") for r in records)


for want in (("bob@example.test", "create", "Orders"), ("alice@example.test", "create", "INBOX/Urgent"),
             ("bob@example.test", "move-out", "INBOX", "Orders"), ("bob@example.test", "move-in", "Orders"),
             ("bob@example.test", "move-out", "INBOX", "Trash"), ("bob@example.test", "move-in", "Trash"),
             ("bob@example.test", "send-as", "")):
    check(audited(*want), "audit lacks %r:\n%s" % (want, out))

# The assistant: alice delegates her INBOX to bob with private \Seen.
for i in range(1, 5):
    mx("someone@remote.test", "alice@example.test", b"From: someone@remote.test\r\nSubject: Note %d\r\n\r\nbody %d\r\n" % (i, i))
ok(alice.setacl("INBOX", "bob@example.test", "lrsw"), "SETACL")
typ, data = alice._simple_command("SETMETADATA", "INBOX", '(/shared/vendor/mailroom/seen "private")')
must(typ == "OK", "SETMETADATA seen private: %s %r" % (typ, data))
must(count(alice, "INBOX", "UNSEEN") == 4, "alice's UNSEEN before")
ok(bob.select(ALICE_INBOX), "bob SELECT alice's INBOX")
for n in (1, 2, 3):
    data = ok(bob.fetch(str(n), "(BODY[])"), "bob FETCH BODY[]")
    check(b"body %d" % n in data[0][1], "bob reads message %d" % n)
n = count(alice, "INBOX", "UNSEEN")
check(n == 4, "alice's STATUS UNSEEN after bob read three: %d, want 4" % n)
n = count(bob, ALICE_INBOX[1:-1], "UNSEEN")
check(n == 1, "bob's STATUS UNSEEN after reading three: %d, want 1" % n)

for m in (alice, bob, carol):
    m.logout()
done()
