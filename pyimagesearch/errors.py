"""The one exception type for mistakes a user can make and fix."""


class UserError(Exception):
    """A problem the user can fix (a wrong path, a bad file, a bad flag).

    Its message is one sentence naming the problem and the fix; the scripts
    print it on stderr and exit with status 2, without a traceback.
    """
