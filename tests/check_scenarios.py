#!/usr/bin/env python3
"""Self-check of the scenario table (python3, standard library only).

Usage: python3 tests/check_scenarios.py [-v]

Two layers of checks:

1. Structure: every scenario file parses; its snapshot exists, parses and follows
   snapshot-format.md (known keys only, ids unique per kind within an instance, domains
   owned by one instance, tokens well formed); every case has name/spec/request/expect;
   header names are lower-case; every bearer token a request uses exists in the snapshot
   unless the case expects 401 (or an unknown host); expect.status agrees with the body's
   gRPC code by the spec's HTTP mapping table (routing answers 404/405 aside).

2. Oracle: an independent, straightforward reading of behaviour.md recomputes every
   case's answer from the snapshot and compares it with the hand-written expectation
   (status, body, content-type). It exists only to catch slips in the data; the JSON files
   stay the contract.
"""
import hashlib
import json
import os
import re
import sys
from urllib.parse import unquote_to_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN_DIR = os.path.join(HERE, "scenarios")
VERBOSE = "-v" in sys.argv

GROUPS = ["authentication.json", "organization.json", "permissions.json", "validation.json", "lookup.json",
          "shaping.json", "languages.json", "routing.json", "instance.json"]

HTTP = {0: 200, 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 12: 501, 13: 500, 14: 503, 16: 401}
DETAIL_TYPE = "type.googleapis.com/zitadel.v1.ErrorDetail"

# ZITADEL's shipped languages (internal/static/i18n/*.yaml)
LANGUAGES = ["ar", "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hi", "hu", "id", "it", "ja", "kk", "ko",
             "lt", "mk", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sq", "sv", "th", "tr", "uk", "vi",
             "zh", "zh-TW"]
# texts of the keys this endpoint uses, for the languages the scenarios use
I18N = {
    "en": {"Errors.User.NotFound": "User could not be found", "Errors.User.NotHuman": "The User must be personal",
           "Errors.Internal": "An internal error occurred", "Errors.Token.Invalid": "Token is invalid"},
    "de": {"Errors.User.NotFound": "Benutzer konnte nicht gefunden werden",
           "Errors.User.NotHuman": "Der Benutzer muss eine Person sein",
           "Errors.Internal": "Es ist ein interner Fehler aufgetreten", "Errors.Token.Invalid": "Token ist ungültig"},
    "fr": {"Errors.User.NotFound": "L'utilisateur n'a pas été trouvé",
           "Errors.User.NotHuman": "L'utilisateur doit être personnel",
           "Errors.Internal": "Une erreur interne s'est produite", "Errors.Token.Invalid": "Le jeton n'est pas valide"},
    "it": {"Errors.User.NotFound": "L'utente non è stato trovato", "Errors.User.NotHuman": "L'utente deve essere personale",
           "Errors.Internal": "Si è verificato un errore interno", "Errors.Token.Invalid": "Token non valido"},
    "zh": {"Errors.User.NotFound": "找不到用户", "Errors.User.NotHuman": "用户必须是个人",
           "Errors.Internal": "发生了内部错误", "Errors.Token.Invalid": "令牌无效"},
}
GRANTING = {"IAM_OWNER", "IAM_OWNER_VIEWER", "IAM_ORG_MANAGER", "IAM_USER_MANAGER", "IAM_LOGIN_CLIENT",
            "ORG_OWNER", "ORG_USER_MANAGER", "ORG_OWNER_VIEWER", "ORG_USER_PERMISSION_EDITOR",
            "ORG_PROJECT_PERMISSION_EDITOR", "PROJECT_OWNER", "PROJECT_OWNER_VIEWER", "PROJECT_GRANT_OWNER",
            "PROJECT_GRANT_OWNER_VIEWER"}
VALIDATION_MSG = ("invalid GetHumanPhoneRequest.UserId: value length must be between 1 and 200 runes, "
                  "inclusive")
ROUTE = re.compile(r"^/management/v1/users/([^/]*)/phone$")

# snapshot-format.md keys
SNAP_KEYS = {
    "root": {"instances"},
    "instance": {"id", "domains", "defaultLanguage", "orgs", "users", "members", "tokens"},
    "org": {"id", "name", "state"},
    "user": {"id", "resourceOwner", "type", "state", "userName", "preferredLanguage", "phone", "isPhoneVerified",
             "sequence", "creationDate", "changeDate"},
    "member": {"userId", "scope", "orgId", "projectId", "grantId", "grantedOrgId", "roles"},
    "token": {"token", "tokenSha256", "userId", "expirationDate"},
}
MEMBER_SCOPE_KEYS = {
    "instance": set(),
    "org": {"orgId"},
    "project": {"projectId", "orgId"},
    "project-grant": {"projectId", "grantId", "orgId", "grantedOrgId"},
}
CASE_KEYS = {"name", "spec", "now", "request", "expect"}
FILE_KEYS = {"description", "snapshot", "now", "cases"}


# ------------------------------------------------------------------ time
TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def parse_ts(s):
    """RFC 3339 → (seconds, nanos) UTC, exact."""
    mt = TS.match(s)
    if not mt:
        raise ValueError(f"not RFC 3339: {s!r}")
    y, mo, d, h, mi, se = (int(mt.group(i)) for i in range(1, 7))
    frac = mt.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    off = mt.group(8)
    offset = 0
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        offset = sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset
    return secs, nanos


def fmt_ts(secs, nanos):
    days, rem = divmod(secs, 86400)
    y, m, d = civil_from_days(days)
    h, rem = divmod(rem, 3600)
    mi, se = divmod(rem, 60)
    out = f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{se:02d}"
    if nanos:
        if nanos % 1_000_000 == 0:
            out += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            out += f".{nanos // 1000:06d}"
        else:
            out += f".{nanos:09d}"
    return out + "Z"


# ------------------------------------------------------------------ snapshot
class Problems(list):
    def add(self, where, msg):
        self.append(f"{where}: {msg}")


def check_keys(obj, allowed, path, probs):
    if not isinstance(obj, dict):
        probs.add(path, "not an object")
        return False
    for k in obj:
        if k not in allowed:
            probs.add(f"{path}.{k}", "unknown key")
    return True


def validate_snapshot(snap, probs):
    check_keys(snap, SNAP_KEYS["root"], "$", probs)
    inst_ids, domains = set(), {}
    for i, inst in enumerate(snap.get("instances", [])):
        p = f"instances[{i}]"
        if not check_keys(inst, SNAP_KEYS["instance"], p, probs):
            continue
        if inst.get("id") in inst_ids:
            probs.add(p + ".id", "duplicate instance id")
        inst_ids.add(inst.get("id"))
        for j, dom in enumerate(inst.get("domains", [])):
            if dom != dom.lower() or ":" in dom:
                probs.add(f"{p}.domains[{j}]", "domains are lower-case and without port")
            if dom in domains:
                probs.add(f"{p}.domains[{j}]", f"domain already belongs to instance {domains[dom]}")
            domains[dom] = inst.get("id")
        org_ids = set()
        for j, org in enumerate(inst.get("orgs", [])):
            q = f"{p}.orgs[{j}]"
            check_keys(org, SNAP_KEYS["org"], q, probs)
            if not org.get("id"):
                probs.add(q + ".id", "empty id")
            if org.get("id") in org_ids:
                probs.add(q + ".id", "duplicate org id")
            org_ids.add(org.get("id"))
            if org.get("state") not in ("active", "inactive"):
                probs.add(q + ".state", "bad org state")
        user_ids = set()
        for j, u in enumerate(inst.get("users", [])):
            q = f"{p}.users[{j}]"
            check_keys(u, SNAP_KEYS["user"], q, probs)
            if not u.get("id"):
                probs.add(q + ".id", "empty id")
            if u.get("id") in user_ids:
                probs.add(q + ".id", "duplicate user id")
            user_ids.add(u.get("id"))
            if u.get("resourceOwner") not in org_ids:
                probs.add(q + ".resourceOwner", "not an organization of this instance")
            if u.get("type") not in ("human", "machine"):
                probs.add(q + ".type", "bad type")
            if u.get("type") == "machine" and ("phone" in u or "isPhoneVerified" in u):
                probs.add(q, "a machine user has no phone")
            if u.get("isPhoneVerified") and not u.get("phone"):
                probs.add(q, "verified without phone")
            if u.get("state") not in ("active", "inactive", "locked", "initial"):
                probs.add(q + ".state", "bad user state")
            seq = u.get("sequence")
            try:
                seqv = int(seq) if isinstance(seq, str) and seq.isdigit() else seq
                if not isinstance(seqv, int) or isinstance(seqv, bool) or not 0 <= seqv < 2 ** 64:
                    raise ValueError
            except ValueError:
                probs.add(q + ".sequence", "not 0..2^64-1")
            for k in ("creationDate", "changeDate"):
                if k in u:
                    try:
                        parse_ts(u[k])
                    except ValueError as e:
                        probs.add(f"{q}.{k}", str(e))
        for j, m in enumerate(inst.get("members", [])):
            q = f"{p}.members[{j}]"
            check_keys(m, SNAP_KEYS["member"], q, probs)
            scope = m.get("scope")
            if scope not in MEMBER_SCOPE_KEYS:
                probs.add(q + ".scope", "bad scope")
                continue
            want = MEMBER_SCOPE_KEYS[scope] | {"userId", "scope", "roles"}
            if set(m) != want:
                probs.add(q, f"keys {sorted(m)} do not fit scope {scope}")
            if m.get("userId") not in user_ids:
                probs.add(q + ".userId", "no such user in this instance")
            for k in ("orgId", "grantedOrgId"):
                if k in m and m[k] not in org_ids:
                    probs.add(f"{q}.{k}", "no such org in this instance")
            if not isinstance(m.get("roles"), list):
                probs.add(q + ".roles", "not a list")
        seen_digests = set()
        for j, t in enumerate(inst.get("tokens", [])):
            q = f"{p}.tokens[{j}]"
            check_keys(t, SNAP_KEYS["token"], q, probs)
            if ("token" in t) == ("tokenSha256" in t):
                probs.add(q, "exactly one of token / tokenSha256")
                continue
            if "tokenSha256" in t and not re.fullmatch(r"[0-9a-f]{64}", t["tokenSha256"]):
                probs.add(q + ".tokenSha256", "not 64 lower-case hex digits")
            digest = t.get("tokenSha256") or hashlib.sha256(t["token"].encode()).hexdigest()
            if digest in seen_digests:
                probs.add(q, "duplicate token")
            seen_digests.add(digest)
            if "expirationDate" in t:
                try:
                    parse_ts(t["expirationDate"])
                except ValueError as e:
                    probs.add(q + ".expirationDate", str(e))


# ------------------------------------------------------------------ oracle
def header(headers, name):
    v = headers.get(name)
    if isinstance(v, list):
        return v[0] if v else None
    return v


def primary(tag):
    return tag.split("-")[0].lower()


def supported(tag):
    """The ZITADEL language a tag matches, or None (exact, else primary subtag)."""
    if not tag:
        return None
    for lang in LANGUAGES:
        if lang.lower() == tag.lower():
            return lang
    p = primary(tag)
    return p if p in LANGUAGES else None


def accept_language(value):
    if not value:
        return []
    items = []
    for n, part in enumerate(value.split(",")):
        part = part.strip()
        if not part:
            continue
        bits = [b.strip() for b in part.split(";")]
        q = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                q = float(b[2:])
        items.append((-q, n, bits[0]))
    return [t for _, _, t in sorted(items) if t != "*"]


def choose_language(caller_lang, accept, default):
    for tag in ([caller_lang] if caller_lang else []) + accept_language(accept):
        lang = supported(tag)
        if lang:
            return lang
    return supported(default) or "en"


def text(lang, key):
    return I18N.get(lang, {}).get(key) or I18N["en"][key]


def err(code, msg, eid=None, status=None):
    body = {"code": code, "message": f"{msg} ({eid})" if eid else msg}
    if eid:
        body["details"] = [{"@type": DETAIL_TYPE, "id": eid, "message": msg}]
    return (status or HTTP[code]), body


def oracle(snap, req, now):
    hdrs = req.get("headers", {})
    raw = req["path"].split("?", 1)[0]
    mt = ROUTE.match(raw)
    if not mt:
        return err(5, "Not Found")
    if req["method"] != "GET":
        return err(12, "Method Not Allowed", status=405)
    origin = header(hdrs, "host") or ""
    host = re.sub(r":\d+$", "", origin.lower())
    inst = next((i for i in snap["instances"] if host in i["domains"]), None)
    if inst is None:
        return err(5, f"unable to set instance using origin {origin} (ExternalDomain is "
                   f"{host}): ID=QUERY-1kIjX Message=Instance not found")
    default = inst.get("defaultLanguage", "en")
    accept = header(hdrs, "accept-language")
    users = {u["id"]: u for u in inst["users"]}

    # step 2
    auth = header(hdrs, "authorization")
    if not auth:
        return err(16, "auth header missing")
    if not auth.startswith("Bearer "):
        return err(16, "invalid auth header", "AUTH-7fs1e")
    plain = auth[len("Bearer "):]
    digest = hashlib.sha256(plain.encode()).hexdigest()
    token = next((t for t in inst["tokens"]
                  if t.get("tokenSha256") == digest or t.get("token") == plain), None)
    invalid = err(16, text(choose_language(None, accept, default), "Errors.Token.Invalid"), "AUTH-7fs1e")
    if token is None:
        return invalid
    if "expirationDate" in token and not parse_ts(now) < parse_ts(token["expirationDate"]):
        return invalid
    caller = users.get(token["userId"])
    if caller is None or caller["state"] != "active":
        return invalid
    lang = choose_language(caller.get("preferredLanguage"), accept, default)

    # step 3
    org = header(hdrs, "x-zitadel-orgid") or caller["resourceOwner"]
    if org not in {o["id"] for o in inst["orgs"]}:
        return err(7, "Organisation doesn't exist", "AUTH-Bs7Ds")

    # step 4
    def applies(m):
        s = m["scope"]
        if s == "instance":
            return True
        if s in ("org", "project"):
            return m["orgId"] == org
        return org in (m["orgId"], m["grantedOrgId"])

    mine = [m for m in inst["members"] if m["userId"] == caller["id"] and applies(m)]
    if not mine:
        return err(5, "membership not found", "AUTHZ-cdgFk")
    if not any(r in GRANTING for m in mine for r in m["roles"]):
        return err(7, "No matching permissions found", "AUTH-5mWD2")

    # step 5
    uid = unquote_to_bytes(mt.group(1)).decode("utf-8")
    if not 1 <= len(uid) <= 200:
        return err(3, VALIDATION_MSG)

    # step 6
    u = users.get(uid)
    if u is None or u["resourceOwner"] != org:
        return err(5, text(lang, "Errors.User.NotFound"), "QUERY-DAvb3")
    if u["type"] != "human":
        return err(9, text(lang, "Errors.User.NotHuman"), "QUERY-hliQl")
    details = {}
    if int(u["sequence"]) != 0:
        details["sequence"] = str(int(u["sequence"]))
    for k in ("creationDate", "changeDate"):
        if k in u:
            details[k] = fmt_ts(*parse_ts(u[k]))
    details["resourceOwner"] = u["resourceOwner"]
    phone = {}
    if u.get("phone"):
        phone["phone"] = u["phone"]
        if u.get("isPhoneVerified"):
            phone["isPhoneVerified"] = True
    return 200, {"details": details, "phone": phone}


# ------------------------------------------------------------------ cases
def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def check_case(fname, idx, c, snap, file_now, tokens_by_instance, domains, probs):
    where = f"{fname} case {idx} ({c.get('name', '?')!r})"
    for k in c:
        if k not in CASE_KEYS:
            probs.add(where, f"unknown key {k!r}")
    for k in ("name", "spec", "request", "expect"):
        if k not in c:
            probs.add(where, f"missing {k}")
            return
    r, e = c["request"], c["expect"]
    if not isinstance(r.get("method"), str) or not isinstance(r.get("path"), str):
        probs.add(where, "request needs method and path")
        return
    if "body" in r and not isinstance(r["body"], str):
        probs.add(where, "request.body must be a string")
    hdrs = r.get("headers", {})
    for name, val in hdrs.items():
        if name != name.lower():
            probs.add(where, f"header name {name!r} is not lower-case")
        if not (isinstance(val, str) or (isinstance(val, list) and all(isinstance(x, str) for x in val))):
            probs.add(where, f"header {name!r} must be a string or a list of strings")
    now = c.get("now", file_now)
    try:
        parse_ts(now)
    except ValueError as ex:
        probs.add(where, f"now: {ex}")
        return
    if not isinstance(e.get("status"), int) or "body" not in e:
        probs.add(where, "expect needs status and body")
        return
    for name in e.get("headers", {}):
        if name != name.lower():
            probs.add(where, f"expected header name {name!r} is not lower-case")
    if e.get("headers", {}).get("content-type") != "application/json":
        probs.add(where, "expect.headers must hold content-type: application/json")
    challenge = e.get("headers", {}).get("www-authenticate")
    if e["status"] == 401 and challenge != e["body"].get("message"):
        probs.add(where, "a 401 must expect www-authenticate holding the body's message")
    if e["status"] != 401 and challenge is not None:
        probs.add(where, "www-authenticate belongs to 401 answers only")

    # status ↔ code
    body = e["body"]
    code = body.get("code", 0) if isinstance(body, dict) else None
    routing = body in ({"code": 5, "message": "Not Found"}, {"code": 12, "message": "Method Not Allowed"})
    if e["status"] == 200:
        if not (isinstance(body, dict) and set(body) == {"details", "phone"}):
            probs.add(where, "a 200 body holds exactly details and phone")
    elif routing:
        if (code, e["status"]) not in ((5, 404), (12, 405)):
            probs.add(where, "routing answers are 404 Not Found / 405 Method Not Allowed")
    elif HTTP.get(code) != e["status"]:
        probs.add(where, f"status {e['status']} does not match code {code} (→ {HTTP.get(code)})")
    if e["status"] != 200 and isinstance(body, dict):
        keys = list(body)
        if keys not in (["code", "message"], ["code", "message", "details"]):
            probs.add(where, f"error body keys {keys} are not code, message[, details]")
        details = body.get("details", [])
        if not isinstance(details, list) or len(details) > 1:
            probs.add(where, "details must be a list with at most one ErrorDetail")
            details = []
        for d in details:
            if not isinstance(d, dict) or list(d) != ["@type", "id", "message"] or d["@type"] != DETAIL_TYPE:
                probs.add(where, "detail must be {@type, id, message}")
            elif body["message"] != f"{d['message']} ({d['id']})":
                probs.add(where, "message must be '<text> (<id>)'")

    # tokens exist (unless the case expects the token to be rejected)
    auth = header(hdrs, "authorization")
    host = re.sub(r":\d+$", "", (header(hdrs, "host") or "").lower())
    if auth and auth.startswith("Bearer ") and e["status"] not in (401,) and host in domains:
        plain = auth[len("Bearer "):]
        if plain not in tokens_by_instance.get(domains[host], set()):
            probs.add(where, f"token {plain!r} does not exist in the host's instance")

    # oracle
    try:
        status, want = oracle(snap, r, now)
    except Exception as ex:  # noqa: BLE001
        probs.add(where, f"oracle failed: {ex!r}")
        return
    if status != e["status"] or compact(want) != compact(body):
        probs.add(where, f"oracle disagrees:\n    data:   {e['status']} {compact(body)}\n    oracle: {status} {compact(want)}")


def main():
    passed = failed = 0
    file_probs = Problems()
    counts = {}
    snaps = {}
    names = sorted(f for f in os.listdir(SCEN_DIR) if f.endswith(".json"))
    for g in GROUPS:
        if g not in names:
            file_probs.add(g, "scenario group file missing")
    for fname in names:
        fpath = os.path.join(SCEN_DIR, fname)
        try:
            with open(fpath, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as ex:
            file_probs.add(fname, f"does not parse: {ex}")
            continue
        for k in doc:
            if k not in FILE_KEYS:
                file_probs.add(fname, f"unknown key {k!r}")
        for k in ("description", "snapshot", "now", "cases"):
            if k not in doc:
                file_probs.add(fname, f"missing {k}")
        snap_path = os.path.normpath(os.path.join(os.path.dirname(fpath), doc.get("snapshot", "")))
        if snap_path not in snaps:
            probs = Problems()
            try:
                with open(snap_path, encoding="utf-8") as f:
                    snap = json.load(f)
                validate_snapshot(snap, probs)
            except (OSError, ValueError) as ex:
                snap = None
                probs.add(snap_path, f"missing or does not parse: {ex}")
            snaps[snap_path] = (snap, probs)
            file_probs.extend(f"{os.path.relpath(snap_path, HERE)}: {p}" for p in probs)
        snap, sprobs = snaps[snap_path]
        if snap is None:
            continue
        tokens_by_instance = {}
        domains = {}
        for inst in snap["instances"]:
            plain = {t["token"] for t in inst["tokens"] if "token" in t}
            hashed = {t["tokenSha256"] for t in inst["tokens"] if "tokenSha256" in t}
            tokens_by_instance[inst["id"]] = _Tokens(plain, hashed)
            for d in inst["domains"]:
                domains[d] = inst["id"]
        seen = set()
        counts[fname] = len(doc.get("cases", []))
        for i, c in enumerate(doc.get("cases", [])):
            probs = Problems()
            if c.get("name") in seen:
                probs.add(f"{fname} case {i}", f"duplicate name {c.get('name')!r}")
            seen.add(c.get("name"))
            check_case(fname, i, c, snap, doc.get("now", ""), tokens_by_instance, domains, probs)
            if probs:
                failed += 1
                for p in probs:
                    print("FAIL", p)
            else:
                passed += 1
                if VERBOSE:
                    print("ok  ", fname, "-", c["name"])
    for p in file_probs:
        print("FAIL", p)
    for fname, n in counts.items():
        print(f"  {fname}: {n} cases")
    print(f"{passed} passed, {failed + len(file_probs)} failed")
    return 0 if failed == 0 and not file_probs else 1


class _Tokens:
    """Plain tokens and digests of one instance; `in` accepts a plain token text."""

    def __init__(self, plain, hashed):
        self.plain, self.hashed = plain, hashed

    def __contains__(self, text):
        return text in self.plain or hashlib.sha256(text.encode()).hexdigest() in self.hashed


if __name__ == "__main__":
    sys.exit(main())
