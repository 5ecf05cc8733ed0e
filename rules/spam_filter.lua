-- The tutorial's spam filter: alert on and drop SMTP sessions whose sender
-- (MAIL FROM) belongs to a forbidden domain.
--
--   hakapcap rules/spam_filter.lua samples/smtp.pcap
--
-- Unlike the original sample, only the forbidden senders are dropped (the
-- original dropped the connection on every MAIL command).

local smtp = require('smtp')
local rem = require('regexp/pcre')

local forbidden_domains = {
	['suspicious.org'] = true,
	['packet-level.com'] = true,
}

-- '@' then the domain, up to the end of the address ('>', a space, or
-- the end of the parameter). % stands for \ in the original's syntax.
local domain_re = rem.re:compile('@[^>%s]+')

smtp.install_tcp_rule(25)

haka.rule{
	hook = smtp.events.command,
	eval = function (flow, command)
		if string.lower(command.command) ~= 'mail' then
			return
		end
		local param = command.parameter or ''
		local match, startpos, endpos = domain_re:match(param)
		if not match then
			haka.alert{
				description = "malformed email address",
				severity = 'low'
			}
			flow:drop()
			return
		end
		-- begin is 0-based: +2 skips the '@'
		local domain = string.lower(string.sub(param, startpos + 2, endpos))
		if forbidden_domains[domain] then
			haka.alert{
				description = "forbidden mail domain",
				severity = 'low'
			}
			flow:drop()
		end
	end
}
