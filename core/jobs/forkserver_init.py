"""Imported only in multiprocessing's forkserver, as its first preload module (see
:mod:`core.jobs.lifeline`): the forkserver dies with the thread that started it, and the
workers it forks ignore Ctrl-C from their first instruction (they inherit its SIGINT handler)."""
import signal

from core.jobs.lifeline import die_with_parent

die_with_parent()
signal.signal(signal.SIGINT, signal.SIG_IGN)
