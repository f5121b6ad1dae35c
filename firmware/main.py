"""Boot entry: run the Anklet app, unless the last run asked for the REPL.

EXIT_TO_REPL (or Ctrl-C on the serial port) reboots with a flag file set, so this boot leaves
the board at the REPL, with no watchdog running, for `mpremote` or a person.
"""

import app
import board

if app.repl_requested():
    print("anklet: REPL requested; the app will start on the next reset")
else:
    app.run(board)
