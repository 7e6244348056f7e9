"""The configuration documents' schemas (pydantic), one module per document.

Both ``config_validator`` (when a document is uploaded) and the function that uses the document
import these directly; ``registry`` says which model validates which document name.
"""
