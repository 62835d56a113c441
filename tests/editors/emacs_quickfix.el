;;; emacs_quickfix.el --- driven by test_editors.py  -*- lexical-binding: t; -*-
;; Open a buggy file in `emacs --batch' with editors/emacs/torchlint.el and Eglot, wait for
;; torchlint's diagnostics (through Flymake, as a user sees them), apply the preferred quick
;; fix through `eglot-code-actions' (the interactive path), wait until the file is clean.

(require 'package)
(package-initialize)
(require 'eglot)
(require 'json)

(defvar tl-repo (getenv "TORCHLINT_REPO"))
(defvar tl-file (getenv "TORCHLINT_FILE"))
(defvar tl-result (getenv "TORCHLINT_RESULT"))
(defvar tl-python (getenv "TORCHLINT_PYTHON"))
(defvar tl-report nil)
(defvar tl-original nil)

(defun tl-finish (ok message)
  (with-temp-file tl-result
    (insert (json-encode (append `((ok . ,(if ok t :json-false)) (message . ,message)) tl-report))))
  (kill-emacs (if ok 0 1)))

(defun tl-wait (seconds predicate)
  (let ((deadline (+ (float-time) seconds)) (done nil))
    (while (and (not (setq done (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    done))

(defun tl-torchlint-diagnostics ()
  (cl-remove-if-not (lambda (d) (string-match-p "torchlint" (format "%s" (flymake-diagnostic-text d))))
                    (flymake-diagnostics)))

(condition-case err
    (progn
      (load (expand-file-name "editors/emacs/torchlint.el" tl-repo))
      (setq torchlint-server-command (list tl-python "-m" "torchlint" "server"))
      (setq torchlint-settings '(:debounce 10))
      (setq eglot-confirm-server-initiated-edits nil)
      (find-file tl-file)
      (python-mode)
      (setq tl-original (buffer-string))
      (apply #'eglot (eglot--guess-contact))
      (unless (tl-wait 60 (lambda () (tl-torchlint-diagnostics)))
        (tl-finish nil "no diagnostics"))
      (let* ((diag (car (tl-torchlint-diagnostics)))
             (lsp (cdr (assoc 'eglot-lsp-diag (eglot--diag-data diag)))))
        (push `(diagnostic . ((code . ,(plist-get lsp :code)) (source . ,(plist-get lsp :source))
                              (line . ,(line-number-at-pos (flymake-diagnostic-beg diag)))))
              tl-report)
        (goto-char (flymake-diagnostic-beg diag))
        ;; the interactive path: the user accepts the default (preferred) action
        (cl-letf (((symbol-function 'completing-read)
                   (lambda (_prompt _coll &optional _pred _req _init _hist def &rest _) def)))
          (let ((last-nonmenu-event ?\r))
            (eglot-code-actions (line-beginning-position) (line-end-position) nil t))))
      (unless (tl-wait 30 (lambda () (save-excursion (goto-char (point-min)) (search-forward "zero_grad" nil t))))
        (tl-finish nil "the quick fix was not applied"))
      ;; Eglot sends didChange from an idle timer, and batch Emacs is never idle: send it as the timer would.
      (eglot--signal-textDocument/didChange)
      (unless (tl-wait 30 (lambda () (null (tl-torchlint-diagnostics))))
        (push `(text . ,(buffer-substring-no-properties (point-min) (point-max))) tl-report)
        (push `(events . ,(with-current-buffer (jsonrpc-events-buffer (eglot-current-server)) (buffer-string))) tl-report)
        (tl-finish nil (format "diagnostics remain: %S" (mapcar #'flymake-diagnostic-text (tl-torchlint-diagnostics)))))
      (push `(text . ,(buffer-substring-no-properties (point-min) (point-max))) tl-report)
      ;; back to the buggy text, then M-x torchlint-fix-all (source.fixAll.torchlint)
      (erase-buffer)
      (insert tl-original)
      (eglot--signal-textDocument/didChange)
      (unless (tl-wait 30 (lambda () (tl-torchlint-diagnostics)))
        (tl-finish nil "no diagnostics after restoring the buggy text"))
      (torchlint-fix-all)
      (eglot--signal-textDocument/didChange)
      (unless (tl-wait 30 (lambda () (null (tl-torchlint-diagnostics))))
        (tl-finish nil "diagnostics remain after torchlint-fix-all"))
      (push `(fix_all_text . ,(buffer-substring-no-properties (point-min) (point-max))) tl-report)
      (tl-finish t "ok"))
  (error (tl-finish nil (format "error: %S" err))))
