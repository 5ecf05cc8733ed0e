-- The original's tcp-stream-rst capture with flow:halfreset() instead of
-- flow:reset(): one RST is forged, toward the server (client address and
-- port as source), none toward the client.
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.receive_data,
	eval = function (flow, data, direction)
		haka.log.debug("received stream len=%d", #data)
		if #data > 10 then
			flow:halfreset()
		end
	end
}
