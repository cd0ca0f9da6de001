"""The application, the top floor: the server's app factory, the command line, the demo and the
WeCom emulator. It may import every floor below (scheduler, handlers, storage, bot); nothing
imports it."""
