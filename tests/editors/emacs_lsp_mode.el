;;; emacs_lsp_mode.el --- devsandbox.el's lsp-mode client: a hover while paused  -*- lexical-binding: t -*-
;; emacs --batch -l emacs_lsp_mode.el
;; Environment: DSB_PLUGIN, DSB_PYTHON, DSB_ROOT, DSB_FILE, DSB_LINE (1-based), DSB_COL (0-based),
;; DSB_OUT.  lsp-mode starts `devsandbox lsp' through the add-on client devsandbox.el
;; registers (no client of its own here); the hover goes through `lsp-request'.
(package-initialize)
(setq lsp-client-packages nil
      lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
      lsp-keep-workspace-alive nil
      lsp-enable-snippet nil
      lsp-auto-guess-root nil
      lsp-restart 'ignore)
(require 'lsp-mode)
(add-to-list 'load-path (getenv "DSB_PLUGIN"))
(require 'devsandbox)
(setq devsandbox-python (getenv "DSB_PYTHON"))
(defun dsb-write (text)
  (with-temp-file (getenv "DSB_OUT") (insert text)))
(with-timeout (60 (dsb-write "TIMEOUT") (kill-emacs 3))
  (lsp-workspace-folders-add (getenv "DSB_ROOT"))
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
    (dsb-write (format "%s\n%s" (lsp--workspace-print (car (lsp-workspaces)))
                       (gethash "value" (gethash "contents" result)))))
  (lsp-workspace-shutdown (car (lsp-workspaces))))
(kill-emacs 0)
