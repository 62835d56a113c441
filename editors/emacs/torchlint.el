;;; torchlint.el --- torchlint language server for Eglot  -*- lexical-binding: t; -*-

;; Works with Emacs 28 + eglot 1.9 (Debian's elpa-eglot) and the Eglot built into Emacs 29+.
;;
;; Put this file on your `load-path' and add to your init file:
;;
;;   (require 'torchlint)
;;   ;; optional: (setq torchlint-server-command '("/path/to/venv/bin/torchlint" "server"))
;;   ;; optional: (setq torchlint-settings '(:ignore ["TL109"] :severity (:TL406 "hint")))
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; Quick fixes: M-x eglot-code-actions (or eglot-code-action-quickfix) on a diagnostic.
;; M-x torchlint-fix-all applies every safe fix; M-x torchlint-run-overfit-check runs the
;; overfit check of the training loop at point.
;;
;; Eglot runs one server per major mode and project: this replaces any other Python server
;; for `python-mode'.

;;; Code:

(require 'eglot)

(defgroup torchlint nil
  "PyTorch training-code linter (language server)."
  :group 'tools)

(defcustom torchlint-server-command '("torchlint" "server")
  "Command that starts the torchlint language server."
  :type '(repeat string))

(defcustom torchlint-settings nil
  "Settings like [tool.torchlint], as a plist.
Keys: :select :ignore :severity :interpreter :per-file-ignores :overfit (:steps N :timeout S).
Example: \\='(:ignore [\"TL109\"] :severity (:TL406 \"hint\"))."
  :type 'plist)

(defun torchlint-eglot-contact (&optional _interactive)
  "The Eglot contact for torchlint."
  (append torchlint-server-command
          (when torchlint-settings
            (list :initializationOptions (list :torchlint torchlint-settings)))))

(dolist (mode '(python-mode python-ts-mode))
  (add-to-list 'eglot-server-programs (cons mode #'torchlint-eglot-contact)))

;; Answer workspace/configuration for the "torchlint" section.
(with-eval-after-load 'eglot
  (unless (functionp eglot-workspace-configuration)
    (setq-default eglot-workspace-configuration
                  (cons (cons :torchlint (or torchlint-settings '()))
                        (assq-delete-all :torchlint (default-value 'eglot-workspace-configuration))))))

(defun torchlint-fix-all ()
  "Apply every safe torchlint fix in the current buffer."
  (interactive)
  (eglot-code-actions (point-min) (point-max) "source.fixAll.torchlint" t))

(defun torchlint-run-overfit-check ()
  "Run the overfit check on the training loop at point."
  (interactive)
  (eglot-execute-command
   (eglot--current-server-or-lose)
   'torchlint.runOverfitCheck
   (vector (list :uri (eglot--path-to-uri (buffer-file-name))
                 :line (1- (line-number-at-pos))))))

(provide 'torchlint)
;;; torchlint.el ends here
