"""What every domain stands on: who acts and what they may do, and the shared machinery.

Owns the acting person (:mod:`.actor`), the one permission map (:mod:`.permissions`) and
query-scoping function (:mod:`.scoping`), audit rows (:mod:`.audit`), field encryption
(:mod:`.crypto`), exact money (:mod:`.money`), background jobs by name (:mod:`.jobs`), outgoing
email (:mod:`.mail`), binary COPY (:mod:`.pgcopy`), the client's real address behind proxies
(:mod:`.client_address`) and the throttles of public pages (:mod:`.throttle`). It imports no domain
package. The errors a person can cause live one layer lower, in :mod:`mlmcrm.errors`, because
integrations raise them too.
"""
