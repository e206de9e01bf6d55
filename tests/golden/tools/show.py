#!/usr/bin/env python3
"""show.py: prints a golden trace compactly, one line per event, for reading and diffing by eye.

    python3 tests/golden/tools/show.py tests/golden/v-cp.jsonl [--no-api] [--bodies]

Plugin calls: `  plugin Method req -> status resp`; authz calls are shortened to
`  plugin AuthZReq METHOD URI` (+ decoded JSON body with --bodies); --no-api hides the rec-authz recorder.
Mount IDs and other 64-hex ids are shortened to their first 8 characters.
"""

import base64
import json
import re
import sys

HEX = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{56}\b")


def short(s):
    return HEX.sub(r"\1…", s)


def main():
    path = sys.argv[1]
    no_api = "--no-api" in sys.argv
    bodies = "--bodies" in sys.argv
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        if "mark" in d:
            print("$ " + d["mark"])
        elif "result" in d:
            out = d["result"]["out"].replace("\n", " | ")
            print("  => rc=%d %s" % (d["result"]["rc"], short(out)[:300]))
        else:
            if no_api and d["plugin"] == "rec-authz":
                continue
            meth = d["path"].rsplit(".", 1)[-1] if "." in d["path"] else d["path"]
            r = d["req"]
            if d["path"].startswith("/AuthZPlugin."):
                s = "%s %s" % (r.get("RequestMethod"), r.get("RequestUri"))
                if meth == "AuthZRes":
                    s += " [%s]" % r.get("ResponseStatusCode")
                if bodies:
                    for k in ("RequestBody", "ResponseBody"):
                        if k in r and (k == "RequestBody" or meth == "AuthZRes"):
                            s += " %s=%s" % (k[:-4].lower(), base64.b64decode(r[k]).decode("utf-8", "replace").strip())
                resp = d["resp"]
                verdict = "" if resp == {"Allow": True} else " -> %s %s" % (d["status"], json.dumps(resp))
                print("  %s %s %s%s" % (d["plugin"], meth, short(s), verdict))
            else:
                print("  %s %s %s -> %s %s" % (d["plugin"], meth, short(d["raw"].strip()), d["status"],
                                               short(json.dumps(d["resp"]))))


if __name__ == "__main__":
    main()
