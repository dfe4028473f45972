"""Pure decisions: reminder slots, which webhook an event owes, when a manual reminder is accepted,
advice on settings, links."""
