"""Entry point of a parser worker process: ``python -m newsletter.sources._child``.

Kept apart from ``worker`` so that module is not run as ``__main__`` while the
package has already imported it.
"""

import sys

from newsletter.sources.worker import serve

if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else None)
