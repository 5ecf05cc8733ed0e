-- Objects given to a rule (packets, data views) are valid during the rule
-- call, however many it makes, and invalid after it.
local tcp_connection = require('protocol/tcp_connection')

local kept, kept_data

haka.rule{
	on = tcp_connection.events.receive_packet,
	eval = function (flow, pkt, direction)
		if kept then
			local ok, err = pcall(function () return kept.ttl end)
			haka.log("kept from the previous packet: %s",
				ok and 'STILL VALID' or err:gsub('^.-objects%.lua:', 'objects.lua:'))
			ok, err = pcall(function () return #kept_data end)
			haka.log("data view kept from the previous packet: %s",
				ok and 'STILL VALID' or err:gsub('^.-objects%.lua:', 'objects.lua:'))
			kept, kept_data = nil, nil
		end
		if not pkt.flags.syn or pkt.flags.ack then return end
		-- Thousands of short-lived views: the collector frees many of
		-- them during the call.
		local ttl = 0
		for i = 1, 5000 do
			local ip = pkt.ip
			ttl = ttl + ip.ttl
			local d = pkt.payload:sub(0, 0)
			ttl = ttl + #d
		end
		kept = pkt.ip
		kept_data = pkt.payload:sub(0, 0)
		haka.log("SYN: 5000 views read, ttl sum %d, the last one valid: %s",
			ttl, kept.ttl == pkt.ip.ttl)
	end
}
