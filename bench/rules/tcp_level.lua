-- TCP-level benchmark rules (bench/run.sh): count new connections and hook
-- their end, so the engine runs ipv4, tcp and tcp_connection tracking and
-- calls Lua twice per connection, without any application dissector.
local tcp_connection = require('protocol/tcp_connection')
local conns = 0
haka.rule{ hook = tcp_connection.events.new_connection, eval = function (flow, pkt) conns = conns + 1 end }
haka.rule{ hook = tcp_connection.events.end_connection, eval = function (flow) end }
