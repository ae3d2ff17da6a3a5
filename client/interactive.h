/* interactive: a prompt for a person at a terminal.
 *
 * Each line typed is sent and its echo printed before the next prompt. End of
 * input (Ctrl-D) half-closes the connection and prints whatever the server still
 * sends. Returns the exit status: 0 after a normal end of input, 1 when the
 * server closed the connection (or refused us with an ERR line) first. */
#ifndef ECHOLAB_CLIENT_INTERACTIVE_H
#define ECHOLAB_CLIENT_INTERACTIVE_H

int interactive_run(int sock);

#endif
