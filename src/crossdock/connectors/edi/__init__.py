"""EDI trading partners: profiles (settings -> the X12 and EDIFACT mappings' rules), the intake adapter that turns a
partner's interchange into canonical events, and the outbound sender that writes 997/CONTRL and documents back.
Wire formats live in connectors/x12 and connectors/edifact; this package only wires them to the hub's ports."""
