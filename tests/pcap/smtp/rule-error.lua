-- A rule that fails on one SMTP event (the RCPT command): the error is
-- counted in `rule errors` and, under the default --rule-error drop, the
-- packet that carried the command is dropped (the forwarded reference
-- capture lacks it), as for a failing packet rule.
local smtp = require('smtp')

smtp.install_tcp_rule(25)

haka.rule{
	on = smtp.events.command,
	eval = function (flow, cmd)
		if cmd.command == 'RCPT' then
			error('rule failure on RCPT')
		end
	end
}
