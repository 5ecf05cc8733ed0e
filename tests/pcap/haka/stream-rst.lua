-- tcp-stream-rst of the original: log the length of every data event and
-- reset the connection once more than 10 bytes are available.
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.receive_data,
	eval = function (flow, data, direction)
		haka.log.debug("received stream len=%d", #data)
		if #data > 10 then
			flow:reset()
		end
	end
}
