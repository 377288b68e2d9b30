;;; hover_eglot.el --- eglot (Emacs batch) asks `devsandbox lsp' for a hover  -*- lexical-binding: t -*-
;; Environment: DSB_PYTHON, DSB_FILE, DSB_LINE (1-based), DSB_COL (0-based), DSB_OUT.
(package-initialize)
(require 'eglot)
(setq jsonrpc-default-request-timeout 30 eglot-connect-timeout 60)  ; slow CI machines
(setq eglot-server-programs
      `((python-mode . (,(getenv "DSB_PYTHON") "-m" "devsandbox" "lsp"))))
(defun dsb-write (text)
  (with-temp-file (getenv "DSB_OUT") (insert text)))
(with-timeout (60 (dsb-write "TIMEOUT") (kill-emacs 3))
  (find-file (getenv "DSB_FILE"))
  (python-mode)
  ;; eglot-ensure waits for post-command-hook, which never runs in batch
  (apply #'eglot (eglot--guess-contact))
  (goto-char (point-min))
  (forward-line (1- (string-to-number (getenv "DSB_LINE"))))
  (forward-char (string-to-number (getenv "DSB_COL")))
  (let* ((server (eglot--current-server-or-lose))
         (result (jsonrpc-request server :textDocument/hover
                                  (eglot--TextDocumentPositionParams))))
    (dsb-write (format "%s" (plist-get (plist-get result :contents) :value)))
    (eglot-shutdown server)))
(kill-emacs 0)
