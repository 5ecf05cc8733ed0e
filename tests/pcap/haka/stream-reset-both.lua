-- The original's tcp-stream-rst capture, calling both flow:reset() and
-- flow:halfreset() in one event, in turn in either order: a full reset
-- wins, so the output is the original's (a RST toward each end).
local tcp_connection = require('protocol/tcp_connection')
local n = 0

haka.rule{
	hook = tcp_connection.events.receive_data,
	eval = function (flow, data, direction)
		haka.log.debug("received stream len=%d", #data)
		if #data > 10 then
			n = n + 1
			if n % 2 == 1 then
				flow:halfreset()
				flow:reset()
			else
				flow:reset()
				flow:halfreset()
			end
		end
	end
}
