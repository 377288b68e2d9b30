;;; devsandbox.el --- Debug Python with time travel: DevSandbox for dap-mode, dape, eglot and lsp-mode  -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1"))
;; Keywords: languages, tools, debugging

;;; Commentary:

;; A thin client of DevSandbox's two servers: `devsandbox dap', a debug adapter over debugpy
;; that records the program and steps backwards, and `devsandbox lsp', a language server
;; with live and recorded values in hovers and call counts in code lenses.
;;
;; - dap-mode: the "devsandbox" debug provider and launch templates (`dap-debug').
;; - dape (Emacs 29+): a `devsandbox' entry in `dape-configs'.
;; - lsp-mode: an add-on client, running beside your main Python server.
;; - eglot: `devsandbox-eglot-setup' makes `devsandbox lsp' the Python server (eglot
;;   runs one server per buffer).
;; - Commands for DevSandbox's requests in the current dap-mode session: step back,
;;   reverse continue, value history, last write, timeline, replay, inspect, eval, hot
;;   reload, recording; `devsandbox-mode' binds them under `devsandbox-keymap-prefix'.
;;
;; Set `devsandbox-python' to a Python that has DevSandbox installed.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(declare-function dap-register-debug-provider "dap-mode")
(declare-function dap-register-debug-template "dap-mode")
(declare-function dap-debug "dap-mode")
(declare-function dap--cur-session "dap-mode")
(declare-function dap--send-message "dap-mode")
(declare-function dap--make-request "dap-mode")
(declare-function dap--resp-handler "dap-mode")
(declare-function dap--step "dap-mode")
(declare-function dap--debug-session-thread-id "dap-mode")
(declare-function dap--debug-session-active-frame "dap-mode")
(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-activate-on "lsp-mode")
(defvar eglot-server-programs)
(defvar dape-configs)

;;; Custom

(defgroup devsandbox nil
  "Debug Python with time travel (DevSandbox)."
  :group 'tools
  :prefix "devsandbox-")

(defcustom devsandbox-python "python3"
  "The Python that runs `devsandbox dap' and `devsandbox lsp'.
It must have DevSandbox installed."
  :type 'string)

(defcustom devsandbox-log-file nil
  "When non-nil, the servers write their logs to this file."
  :type '(choice (const nil) file))

(defcustom devsandbox-record t
  "Whether launched programs are recorded for time travel."
  :type 'boolean)

(defcustom devsandbox-keymap-prefix (kbd "C-c ,")
  "The prefix of `devsandbox-command-map' in `devsandbox-mode'."
  :type 'key-sequence)

(defun devsandbox--server-command (subcommand)
  "The command line of `devsandbox SUBCOMMAND'."
  (append (list devsandbox-python "-m" "devsandbox")
          (when devsandbox-log-file (list "--log-file" devsandbox-log-file))
          (list subcommand)))

;;; Debug adapter: dap-mode

(defun devsandbox--dap-populate (conf)
  "Complete the dap-mode configuration CONF: the adapter and the defaults."
  (let ((conf (copy-sequence conf)))
    (setq conf (plist-put conf :dap-server-path (devsandbox--server-command "dap")))
    (setq conf (plist-put conf :type "devsandbox"))
    (when (functionp (plist-get conf :processId))
      (setq conf (plist-put conf :processId (funcall (plist-get conf :processId)))))
    (unless (plist-get conf :cwd)
      (setq conf (plist-put conf :cwd (expand-file-name default-directory))))
    (when (and (equal (plist-get conf :request) "launch")
               (not (or (plist-get conf :program) (plist-get conf :module)
                        (plist-get conf :code)
                        (plist-get (plist-get conf :devsandbox) :replay))))
      (setq conf (plist-put conf :program
                            (or (buffer-file-name) (user-error "Open the Python file to debug")))))
    conf))

(defun devsandbox--templates ()
  "The launch templates, as (NAME . CONFIGURATION)."
  (let ((record (if devsandbox-record t :json-false)))
    `(("DevSandbox: current file (recorded)"
       :type "devsandbox" :request "launch" :name "DevSandbox: current file"
       :console "internalConsole" :devsandbox (:record ,record))
      ("DevSandbox: module"
       :type "devsandbox" :request "launch" :name "DevSandbox: module"
       :module "main" :console "internalConsole" :devsandbox (:record ,record))
      ("DevSandbox: attach to port 5678"
       :type "devsandbox" :request "attach" :name "DevSandbox: attach"
       :connect (:host "127.0.0.1" :port 5678))
      ("DevSandbox: attach to a process"
       :type "devsandbox" :request "attach" :name "DevSandbox: attach to a process"
       :processId devsandbox--pick-process))))

(defun devsandbox--pick-process ()
  "Ask for the Python process to attach to; return its id."
  (let* ((lines (process-lines "ps" "-A" "-ww" "-o" "pid=,args="))
         (pythons (cl-loop for line in lines
                           when (string-match "\\`\\s-*\\([0-9]+\\)\\s-+\\(.*python.*\\)" line)
                           collect (cons (format "%s  %s" (match-string 1 line)
                                                 (match-string 2 line))
                                         (string-to-number (match-string 1 line))))))
    (cdr (assoc (completing-read "Attach to: " pythons nil t) pythons))))

(defun devsandbox--dap-setup ()
  "Register the provider and the templates with dap-mode."
  ;; dap-mode 0.7 reads `dap-exception-breakpoints' (from dap-ui) when the adapter has
  ;; exception filters, as debugpy has, and fails without it.
  (require 'dap-ui nil t)
  (dap-register-debug-provider "devsandbox" #'devsandbox--dap-populate)
  (dolist (template (devsandbox--templates))
    (dap-register-debug-template (car template) (cdr template))))

(with-eval-after-load 'dap-mode
  (devsandbox--dap-setup)
  ;; Events dap-mode would report as unhandled (what they say comes as output too).
  (cl-defmethod dap-handle-event ((_event (eql devsandbox/connectionState)) _session _params))
  (cl-defmethod dap-handle-event ((_event (eql devsandbox/hotReloaded)) _session _params))
  (cl-defmethod dap-handle-event ((_event (eql debugpySockets)) _session _params)))

;;; Debug adapter: dape (Emacs 29+)

(with-eval-after-load 'dape
  (add-to-list 'dape-configs
               `(devsandbox
                 modes (python-mode python-ts-mode)
                 command ,devsandbox-python
                 command-args ,(cdr (devsandbox--server-command "dap"))
                 :type "devsandbox" :request "launch" :console "internalConsole"
                 :cwd dape-cwd :program dape-buffer-default
                 :devsandbox (:record t))))

;;; Language server

;;;###autoload
(defun devsandbox-eglot-setup ()
  "Make `devsandbox lsp' eglot's server for Python buffers.
Eglot runs one server per buffer: this replaces your main Python server."
  (interactive)
  (require 'eglot)
  (add-to-list 'eglot-server-programs
               (cons '(python-mode python-ts-mode) (devsandbox--server-command "lsp"))))

(with-eval-after-load 'lsp-mode
  (lsp-register-client
   (make-lsp-client :new-connection (lsp-stdio-connection
                                     (lambda () (devsandbox--server-command "lsp")))
                    :activation-fn (lsp-activate-on "python")
                    :add-on? t
                    :priority -2
                    :server-id 'devsandbox)))

;;; Requests to the debug session

(defun devsandbox--session ()
  "The current dap-mode session."
  (or (dap--cur-session) (user-error "No debug session")))

(defun devsandbox--request (command arguments callback)
  "Send COMMAND with ARGUMENTS (a plist) to the session.
CALLBACK gets the response body."
  (dap--send-message (dap--make-request command arguments)
                     (dap--resp-handler
                      (lambda (response) (funcall callback (gethash "body" response)))
                      (lambda (message) (message "DevSandbox: %s" message)))
                     (devsandbox--session)))

(defun devsandbox--frame-arguments ()
  "The thread and the selected frame of the session, as request arguments."
  (let* ((session (devsandbox--session))
         (frame (dap--debug-session-active-frame session)))
    (append (list :threadId (dap--debug-session-thread-id session))
            (when frame (list :frameId (gethash "id" frame))))))

(defun devsandbox--expression (prompt)
  "The region, else the symbol at point, confirmed with PROMPT."
  (let ((default (if (use-region-p)
                     (buffer-substring-no-properties (region-beginning) (region-end))
                   (thing-at-point 'symbol t))))
    (read-string (format-prompt prompt default) nil nil default)))

;;; Commands: time travel

(defun devsandbox-step-back ()
  "Step backwards, over calls, in the recording."
  (interactive)
  (dap--step "stepBack" (devsandbox--session)))

(defun devsandbox-reverse-continue ()
  "Run backwards to the previous breakpoint."
  (interactive)
  (dap--step "reverseContinue" (devsandbox--session)))

(defun devsandbox-step-back-in ()
  "Step backwards into the call before."
  (interactive)
  (dap--step "devsandbox/stepBackIn" (devsandbox--session)))

(defun devsandbox-step-back-out ()
  "Step backwards out to the caller."
  (interactive)
  (dap--step "devsandbox/stepBackOut" (devsandbox--session)))

(defun devsandbox-goto-step (thread step)
  "Jump to STEP of THREAD in the recording."
  (interactive (list (dap--debug-session-thread-id (devsandbox--session))
                     (read-number "Step: ")))
  (devsandbox--request "devsandbox/gotoStep" (list :threadId thread :step step) #'ignore))

(defvar devsandbox-list-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'devsandbox-list-goto)
    map)
  "Keys of the value history and timeline buffers.")

(define-derived-mode devsandbox-list-mode special-mode "DevSandbox"
  "Steps of a recording: RET jumps to the step on the line.")

(defun devsandbox-list-goto ()
  "Jump to the step of the current line."
  (interactive)
  (let ((step (get-text-property (point) 'devsandbox-step))
        (thread (get-text-property (point) 'devsandbox-thread)))
    (if step (devsandbox-goto-step thread step) (user-error "No step on this line"))))

(defun devsandbox--list (name title rows)
  "Show ROWS, a list of (TEXT THREAD STEP), in the buffer NAME under TITLE."
  (with-current-buffer (get-buffer-create name)
    (let ((inhibit-read-only t))
      (erase-buffer)
      (devsandbox-list-mode)
      (insert (propertize title 'face 'bold) "\n")
      (pcase-dolist (`(,text ,thread ,step) rows)
        (insert (propertize text 'devsandbox-thread thread 'devsandbox-step step) "\n"))
      (goto-char (point-min)))
    (display-buffer (current-buffer))
    (current-buffer)))

(defun devsandbox-value-history (expression)
  "Every value EXPRESSION took in the recording; RET on one jumps there."
  (interactive (list (devsandbox--expression "Value history of")))
  (devsandbox--request
   "devsandbox/valueHistory" (append (list :expression expression) (devsandbox--frame-arguments))
   (lambda (body)
     (devsandbox--list
      "*devsandbox-history*"
      (format "%s: %d changes%s" expression (length (gethash "changes" body))
              (if (gethash "truncated" body) " (more not shown)" ""))
      (mapcar (lambda (c)
                (list (format "step %-8d line %-5d %s = %s   (%s)" (gethash "step" c)
                              (gethash "line" c) expression (gethash "value" c)
                              (gethash "function" c))
                      (gethash "threadId" c) (gethash "step" c)))
              (gethash "changes" body))))))

(defun devsandbox-last-write (expression)
  "Go back to the step that gave EXPRESSION its current value."
  (interactive (list (devsandbox--expression "Last write of")))
  (devsandbox--request
   "devsandbox/lastWrite"
   (append (list :expression expression :goto t) (devsandbox--frame-arguments))
   (lambda (body)
     (if (gethash "found" body)
         (message "%s became %s (was %s) at line %s of %s, step %s" expression
                  (gethash "new" body) (gethash "old" body) (gethash "line" body)
                  (gethash "function" body) (gethash "step" body))
       (message "%s" (gethash "message" body))))))

(defun devsandbox-timeline ()
  "The recorded calls of the thread; RET on one jumps to its start."
  (interactive)
  (devsandbox--request
   "devsandbox/timeline" (list :count 5000)
   (lambda (body)
     (let ((thread (gethash "threadId" body)))
       (devsandbox--list
        "*devsandbox-timeline*"
        (format "%d calls, %d steps" (gethash "total" body) (gethash "steps" body))
        (mapcar (lambda (call)
                  (list (format "%s%s  %s:%s  steps %s-%s%s"
                                (make-string (* 2 (gethash "depth" call)) ?\s)
                                (gethash "function" call)
                                (file-name-nondirectory (gethash "file" call))
                                (gethash "line" call) (gethash "startStep" call)
                                (or (gethash "endStep" call) "...")
                                (if (gethash "exception" call) "  raised" ""))
                        thread (gethash "startStep" call)))
                (gethash "calls" body)))))))

(defun devsandbox-start-recording ()
  "Start recording the program."
  (interactive)
  (devsandbox--request "devsandbox/startRecording" (list :options (make-hash-table))
                       (lambda (_) (message "DevSandbox: recording"))))

(defun devsandbox-stop-recording ()
  "Stop recording the program."
  (interactive)
  (devsandbox--request "devsandbox/stopRecording" nil
                       (lambda (body) (message "DevSandbox: recording stopped: %s"
                                               (or (gethash "path" body) "")))))

(defun devsandbox-replay (file)
  "Step through the recording FILE, post-mortem."
  (interactive (list (read-file-name "Replay recording: "
                                     (expand-file-name ".devsandbox/recordings/")
                                     nil t nil
                                     (lambda (f) (or (file-directory-p f)
                                                     (string-suffix-p ".dsrec" f))))))
  (require 'dap-mode)
  (dap-debug (list :type "devsandbox" :request "launch"
                   :name (format "Replay %s" (file-name-nondirectory file))
                   :devsandbox (list :replay (expand-file-name file)))))

;;; Commands: the live program

(defun devsandbox--show (name value)
  "Pretty-print VALUE (a parsed JSON body) in the buffer NAME."
  (with-current-buffer (get-buffer-create name)
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (json-encode value))
      (ignore-errors (json-pretty-print-buffer))
      (special-mode))
    (display-buffer (current-buffer))))

(defun devsandbox-inspect (path)
  "Show the live value at PATH (NAME, pkg.mod:NAME.attr[key] or a $N handle)."
  (interactive (list (devsandbox--expression "Inspect")))
  (devsandbox--request "devsandbox/inspect" (list :path path)
                       (lambda (body) (devsandbox--show "*devsandbox-inspect*" body))))

(defun devsandbox-eval (code)
  "Run CODE in the program (its value shown)."
  (interactive (list (read-string "Evaluate in the program: ")))
  (devsandbox--request "devsandbox/eval" (list :code code)
                       (lambda (body) (message "%s" (or (gethash "value" body)
                                                        (json-encode body))))))

(defun devsandbox-hot-reload ()
  "Reload the current buffer's code into the running program, keeping its state."
  (interactive)
  (let ((file (or (buffer-file-name) (user-error "Not a file"))))
    (devsandbox--request
     "devsandbox/hotReload"
     (list :file file :source (buffer-substring-no-properties (point-min) (point-max)))
     (lambda (body)
       (let ((changed (mapconcat (lambda (c) (gethash "name" c)) (gethash "changed" body) ", ")))
         (message "DevSandbox: reloaded %s (%s)" (file-name-nondirectory file)
                  (if (string-empty-p changed) "nothing changed" changed)))))))

;;; Mode

(defvar devsandbox-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "b") #'devsandbox-step-back)
    (define-key map (kbd "r") #'devsandbox-reverse-continue)
    (define-key map (kbd "i") #'devsandbox-step-back-in)
    (define-key map (kbd "o") #'devsandbox-step-back-out)
    (define-key map (kbd "h") #'devsandbox-value-history)
    (define-key map (kbd "w") #'devsandbox-last-write)
    (define-key map (kbd "t") #'devsandbox-timeline)
    (define-key map (kbd "g") #'devsandbox-goto-step)
    (define-key map (kbd "p") #'devsandbox-replay)
    (define-key map (kbd "s") #'devsandbox-start-recording)
    (define-key map (kbd "S") #'devsandbox-stop-recording)
    (define-key map (kbd "x") #'devsandbox-inspect)
    (define-key map (kbd "e") #'devsandbox-eval)
    (define-key map (kbd "R") #'devsandbox-hot-reload)
    map)
  "DevSandbox's commands, under `devsandbox-keymap-prefix' in `devsandbox-mode'.")
(fset 'devsandbox-command-map devsandbox-command-map)

(defvar devsandbox-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map devsandbox-keymap-prefix 'devsandbox-command-map)
    map)
  "Keymap of `devsandbox-mode'.")

;;;###autoload
(define-minor-mode devsandbox-mode
  "DevSandbox's time travel and live-state commands.
They are under `devsandbox-keymap-prefix':
\\{devsandbox-command-map}"
  :lighter " DSB"
  :keymap devsandbox-mode-map)

(provide 'devsandbox)
;;; devsandbox.el ends here
