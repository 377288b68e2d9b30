;;; hover_lsp_mode.el --- lsp-mode (Emacs batch) asks `devsandbox lsp' for a hover  -*- lexical-binding: t -*-
;; Environment: DSB_PYTHON, DSB_ROOT, DSB_FILE, DSB_LINE (1-based), DSB_COL (0-based), DSB_OUT.
(package-initialize)
(setq lsp-client-packages nil
      lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
      lsp-keep-workspace-alive nil
      lsp-enable-snippet nil
      lsp-auto-guess-root nil
      lsp-restart 'ignore
      lsp-response-timeout 30)  ; slow CI machines
(require 'lsp-mode)
(lsp-register-client
 (make-lsp-client :new-connection (lsp-stdio-connection
                                   (list (getenv "DSB_PYTHON") "-m" "devsandbox" "lsp"))
                  :major-modes '(python-mode)
                  :server-id 'devsandbox))
(defun dsb-write (text)
  (with-temp-file (getenv "DSB_OUT") (insert text)))
(with-timeout (60 (dsb-write "TIMEOUT") (kill-emacs 3))
  (lsp-workspace-folders-add (getenv "DSB_ROOT"))  ; else lsp-mode asks for the root
  (find-file (getenv "DSB_FILE"))
  (python-mode)
  (lsp)
  (while (not (and (lsp-workspaces)
                   (eq 'initialized (lsp--workspace-status (car (lsp-workspaces))))))
    (accept-process-output nil 0.1))
  (goto-char (point-min))
  (forward-line (1- (string-to-number (getenv "DSB_LINE"))))
  (forward-char (string-to-number (getenv "DSB_COL")))
  (let ((result (lsp-request "textDocument/hover" (lsp--text-document-position-params))))
    (dsb-write (format "%s" (gethash "value" (gethash "contents" result)))))
  (lsp-workspace-shutdown (car (lsp-workspaces))))
(kill-emacs 0)
