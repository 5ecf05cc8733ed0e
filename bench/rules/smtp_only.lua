-- SMTP-level benchmark rules without Lua (bench/run_smtp.sh): connections
-- to port 25 get the SMTP dissector, and no rule is registered, so the
-- engine runs ipv4, tcp, tcp_connection and the SMTP parser on every
-- connection without calling Lua per command, response or packet.
require('smtp').install_tcp_rule(25)
