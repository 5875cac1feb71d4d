"""Helpers for the notebook-writing scripts: cell constructors and the shared first (install) cell."""
import textwrap

import nbformat as nbf

REPOSITORY = "https://github.com/styleinv-book/styleinv-book"  # must equal repository.url in _config.yml


def md(text: str):
    return nbf.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str, tags=()):
    cell = nbf.v4.new_code_cell(textwrap.dedent(text).strip())
    if tags:
        cell["metadata"]["tags"] = list(tags)
    return cell


def install_cell():
    return code(f'''
    # Colab or a fresh runtime: install the library from the book's repository when it is missing.
    # An existing torch (Colab's CUDA build) is kept: the package asks only for torch>=2.3.
    import importlib.util, subprocess, sys
    if importlib.util.find_spec("styleinv_lib") is None:
        REPOSITORY = "{REPOSITORY}"
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                               f"styleinv-lib[video,notebook] @ git+{{REPOSITORY}}"])
    ''')


def write_notebook(cells, name: str):
    """Write ``cells`` as ``notebooks/<name>`` with the kernel metadata Colab and nbval expect."""
    from pathlib import Path

    nb = nbf.v4.new_notebook()
    nb["cells"] = cells
    nb["metadata"] = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                      "language_info": {"name": "python"}, "colab": {"provenance": []}}
    out = Path(__file__).parent / name
    nbf.write(nb, out)
    print("wrote", out)
