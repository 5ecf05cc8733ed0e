-- doc-workshop-smtp_final of the original: the dissector alone, no rule.
-- The whole tutorial dialogue must be accepted without any alert.
require('smtp').install_tcp_rule(25)
