"""Boot entry: run the Anklet app, unless the last run asked for the REPL.

EXIT_TO_REPL (or Ctrl-C on the serial port) reboots with a flag file set, so this boot leaves
the board at the REPL, with no watchdog running, for `mpremote` or a person.
"""

import replflag

if replflag.take():
    print("anklet: REPL requested; the app starts again on the next reset")
else:
    import app
    import board

    # The app takes the sample ring's buffers, its one large allocation, once the code is
    # loaded and the radio is up (app.App).
    app.run(board)
