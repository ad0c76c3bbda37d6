"""Echo Wire: the worked example of docs/drivers.md, a provider with a wire format of its own."""
