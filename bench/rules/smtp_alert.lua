-- SMTP-level benchmark rules (bench/run_smtp.sh): alert, without dropping,
-- on every MAIL command whose sender's domain is suspicious.org (any case).
-- One alert per such MAIL FROM; on the bench captures the count must equal
-- suspicious_sender_mails in bench/out/<capture>.pcap.txt.
--
-- Kept cheap: the verb is checked first (a comparison with 'MAIL', then
-- its length, then a lookup in a table of the other 4-byte verbs as
-- clients send them; string.upper only for a 4-byte verb found in none),
-- so the other commands cost a few comparisons and no function call (a
-- call of a string function costs more than the rest); the parameter is only
-- looked at for MAIL, with plain string functions (no regexp object),
-- and parsed only when its lower-case copy contains the domain at all (a
-- plain substring search): Lua pattern matching costs several thousand
-- VM instructions per parameter, the prefilter a few hundred.

local smtp = require('smtp')

local FORBIDDEN = 'suspicious.org'

-- 4-byte verbs other than MAIL, in the cases clients use.
local OTHER_VERBS = {}
for _, v in ipairs({'EHLO', 'HELO', 'RCPT', 'DATA', 'BDAT', 'QUIT', 'RSET',
		'NOOP', 'VRFY', 'EXPN', 'HELP', 'AUTH', 'ETRN', 'TURN', 'ATRN'}) do
	OTHER_VERBS[v] = true
	OTHER_VERBS[string.lower(v)] = true
end

smtp.install_tcp_rule(25)

haka.rule{
	hook = smtp.events.command,
	eval = function (flow, cmd)
		local verb = cmd.command
		if verb ~= 'MAIL' then
			-- EHLO, RCPT, DATA, QUIT are 4 bytes too: the verbs as clients
			-- send them are looked up in a table (no function call)
			-- before an upper-case copy is made of any other 4-byte verb.
			if verb == nil or #verb ~= 4 or OTHER_VERBS[verb] or
			    string.upper(verb) ~= 'MAIL' then
				return
			end
		end
		local param = cmd.parameter
		if param == nil or
		    not string.find(string.lower(param), FORBIDDEN, 1, true) then
			return
		end
		-- "FROM:<local@domain> SIZE=123": the path between < and >, or
		-- else the first word after FROM:; the domain follows the last '@'
		-- (a source route "<@a,@b:user@d>" names d).
		local path = string.match(param, '<([^>]*)>') or
		    string.match(param, '^[Ff][Rr][Oo][Mm]:%s*([^%s]*)') or ''
		local domain = string.match(path, '@([^@]*)$')
		if domain == nil then
			return
		end
		if #domain ~= #FORBIDDEN or string.lower(domain) ~= FORBIDDEN then
			return
		end
		haka.alert{
			description = "forbidden mail domain",
			severity = 'low',
			sources = haka.alert.address(flow.srcip),
			targets = {
				haka.alert.address(flow.dstip),
				haka.alert.service("tcp/" .. flow.dstport, "smtp"),
			},
		}
	end
}
