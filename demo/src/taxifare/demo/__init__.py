"""The whole taxifare loop on one machine, and the report of what happened."""
