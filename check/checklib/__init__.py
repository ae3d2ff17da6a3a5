"""checklib: the modules of echo-check (check/echo-check), the report card of
any line-echo server: server (start, watch, stop; or an address), cases (what
a case is and how it runs), core and extras (the cases, by profile),
promises (what a server declares it serves, and the checks of that), card
(the run, the verdict, the table and the JSON). The traffic comes from
tests/probelib, the code the test suite itself runs."""
