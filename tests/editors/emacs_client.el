;;; emacs_client.el --- devsandbox.el in Emacs batch: dap-mode, step back, eglot hover  -*- lexical-binding: t -*-
;; emacs --batch -l emacs_client.el
;; Environment: DSB_PLUGIN (editors/emacs), DSB_PYTHON, DSB_FILE, DSB_LINE (1-based), DSB_OUT.
;; A breakpoint, `dap-debug' with devsandbox.el's recorded template, continue to the 4th time
;; round the loop, `devsandbox-step-back' twice, `devsandbox-value-history', a hover through
;; eglot (`devsandbox-eglot-setup'), disconnect.  Writes a JSON report to DSB_OUT.
(package-initialize)
(setq lsp-client-packages nil
      dap-auto-show-output nil
      dap-breakpoints-file (expand-file-name "dap-breakpoints" (getenv "HOME"))
      lsp-session-file (expand-file-name "lsp-session" (getenv "HOME")))
(require 'dap-mode)
(require 'json)
(add-to-list 'load-path (getenv "DSB_PLUGIN"))
(require 'devsandbox)
(setq devsandbox-python (getenv "DSB_PYTHON"))

(defvar dsb-report nil)
(defvar dsb-line (string-to-number (getenv "DSB_LINE")))
(defvar dsb-start (float-time))

(defun dsb-wait (predicate seconds)
  "Process input until PREDICATE holds or SECONDS pass; its last value."
  (with-timeout (seconds (funcall predicate))
    (let (value)
      (while (not (setq value (funcall predicate)))
        (accept-process-output nil 0.05))
      value)))

(defun dsb-session () (dap--cur-session))

(defun dsb-frame-line ()
  (let ((frame (and (dsb-session) (dap--debug-session-active-frame (dsb-session)))))
    (and frame (gethash "line" frame))))

(defun dsb-locals ()
  "The first scope's variables of the active frame, as \"name = value\" strings."
  (let* ((session (dsb-session))
         (frame (dap--debug-session-active-frame session))
         (done nil) (result nil))
    (when frame
      (dap--send-message
       (dap--make-request "scopes" (list :frameId (gethash "id" frame)))
       (dap--resp-handler
        (lambda (response)
          (let ((scope (car (gethash "scopes" (gethash "body" response)))))
            (dap--send-message
             (dap--make-request "variables" (list :variablesReference
                                                  (gethash "variablesReference" scope)))
             (dap--resp-handler
              (lambda (response)
                (setq result (mapcar (lambda (v) (format "%s = %s" (gethash "name" v)
                                                         (gethash "value" v)))
                                     (gethash "variables" (gethash "body" response)))
                      done t)))
             session))))
       session)
      (dsb-wait (lambda () done) 10))
    result))

(defun dsb-stopped-at (line &rest values)
  "Wait until the session shows LINE with VALUES among its locals; t when it does."
  (and (dsb-wait (lambda () (equal (dsb-frame-line) line)) 30)
       (dsb-wait (lambda () (cl-subsetp values (dsb-locals) :test #'equal)) 10)
       t))

(defun dsb-note (name ok &rest more)
  (push (append (list :name name :ok (if ok t :json-false) :line (dsb-frame-line)
                      :locals (vconcat (and (dsb-session) (dsb-locals)))
                      :time (- (float-time) dsb-start))
                more)
        dsb-report))

(defun dsb-finish (code)
  (with-temp-file (getenv "DSB_OUT")
    (insert (json-encode (vconcat (reverse dsb-report)))))
  (kill-emacs code))

(condition-case err
    (with-timeout (150 (push (list :name "timeout" :ok :json-false) dsb-report) (dsb-finish 3))
      (find-file (getenv "DSB_FILE"))
      (python-mode)
      (goto-char (point-min))
      (forward-line (1- dsb-line))
      (dap-breakpoint-add)

      ;; F5, Emacs style: the template devsandbox.el registered, completed by its provider
      (dap-debug (copy-tree (cdr (assoc "DevSandbox: current file (recorded)"
                                        dap-debug-template-configurations))))
      (dsb-note "stopped" (dsb-stopped-at dsb-line "i = 0"))

      (let (ok)
        (dotimes (hit 3)
          (dap-continue (dsb-session) (dap--debug-session-thread-id (dsb-session)))
          (setq ok (dsb-stopped-at dsb-line (format "i = %d" (1+ hit)))))
        (dsb-note "continued" ok))

      (with-current-buffer (get-file-buffer (getenv "DSB_FILE"))
        (devsandbox-step-back))
      (dsb-note "step back 1" (dsb-stopped-at (1- dsb-line) "total = 3"))
      (with-current-buffer (get-file-buffer (getenv "DSB_FILE"))
        (devsandbox-step-back))
      (dsb-note "step back 2" (dsb-stopped-at dsb-line "i = 2" "total = 1"))

      (devsandbox-value-history "total")
      (dsb-note "value history"
                (dsb-wait (lambda () (get-buffer "*devsandbox-history*")) 10)
                :history (and (get-buffer "*devsandbox-history*")
                              (with-current-buffer "*devsandbox-history*"
                                (buffer-string))))

      ;; hover through eglot, the way eldoc asks for it
      (with-current-buffer (get-file-buffer (getenv "DSB_FILE"))
        (devsandbox-eglot-setup)
        (apply #'eglot (eglot--guess-contact))
        (dsb-wait (lambda () (eglot-current-server)) 30)
        (goto-char (point-min))
        (forward-line (1- dsb-line))
        (search-forward "total")
        (backward-char 2)
        (let (hover)
          (dotimes (_ 20)
            (unless hover
              (eglot-hover-eldoc-function (lambda (info &rest _) (setq hover info)))
              (dsb-wait (lambda () hover) 2)))
          (dsb-note "hover" (and hover (string-match-p "total = 1" hover))
                    :hover (and hover (substring-no-properties hover))))
        (eglot-shutdown (eglot-current-server)))

      (let ((session (dsb-session)))
        (dap-disconnect session)
        (dsb-note "disconnected"
                  (dsb-wait (lambda () (not (process-live-p (dap--debug-session-proc session))))
                            15)))
      (dsb-finish 0))
  (error (push (list :name "error" :ok :json-false :error (format "%S" err)) dsb-report)
         (dsb-finish 2)))
