package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/params"
)

// definitionInput is the body of POST /v1/definitions: the definition's
// fields a caller may set.
type definitionInput struct {
	Alias          string                  `json:"alias"`
	Group          string                  `json:"group_name"`
	Image          string                  `json:"image"`
	Command        string                  `json:"command"`
	CPU            int                     `json:"cpu"`
	Memory         int                     `json:"memory"`
	GPU            int                     `json:"gpu"`
	Architecture   string                  `json:"architecture"`
	Env            map[string]string       `json:"env"`
	Secrets        map[string]string       `json:"secrets"`
	TaskRoleARN    string                  `json:"task_role_arn"`
	OnOutOfMemory  *flotilla.OOMPolicy     `json:"on_out_of_memory"`
	Notify         []flotilla.NotifyTarget `json:"notify"`
	Tags           []string                `json:"tags"`
	TimeoutSeconds int                     `json:"timeout_seconds"`
	Retry          flotilla.RetryPolicy    `json:"retry"`

	ParametersSchema json.RawMessage `json:"parameters_schema"`
}

func (s *server) handleCreateDefinition() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, owner string) {
		in, err := decode[definitionInput](w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		now := s.NowFunc().UTC()
		d := flotilla.Definition{ID: ids.New(ids.Definition, now), Owner: owner, OwnerName: s.ownerName(r), Alias: in.Alias, Group: in.Group, Image: in.Image, Command: in.Command,
			CPU: in.CPU, Memory: in.Memory, GPU: in.GPU, Architecture: in.Architecture, Env: in.Env, Secrets: in.Secrets, TaskRoleARN: in.TaskRoleARN, OnOutOfMemory: in.OnOutOfMemory, Notify: in.Notify, Tags: in.Tags, TimeoutSeconds: in.TimeoutSeconds, Retry: in.Retry,
			Revision: 1, CreatedAt: now, UpdatedAt: now, ParametersSchema: in.ParametersSchema}
		d.Normalize()
		if err := s.validDefinition(d); err != nil {
			s.fail(w, r, err)
			return
		}
		created, err := s.Store.CreateDefinition(r.Context(), d)
		if err != nil {
			s.fail(w, r, s.blameAlias(r, err, d))
			return
		}
		w.Header().Set("Location", "/v1/definitions/"+created.ID)
		encode(w, http.StatusCreated, created)
	})
}

func (s *server) handleListDefinitions() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		q := r.URL.Query()
		limit, err := limitParam(q.Get("limit"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page, err := s.Store.ListDefinitions(r.Context(), flotilla.DefinitionFilter{Alias: q.Get("alias"), Group: q.Get("group"),
			Tag: q.Get("tag"), Image: q.Get("image"), Limit: limit, NextToken: q.Get("next_token")})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for i := range page.Items {
			page.Items[i] = s.maskDefinition(r, caller, page.Items[i])
		}
		encode(w, http.StatusOK, page)
	})
}

func (s *server) handleGetDefinition() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		d, err := s.Store.GetDefinition(r.Context(), r.PathValue("ref"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.maskDefinition(r, caller, d))
	})
}

func (s *server) handleUpdateDefinition() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		patch, err := decode[flotilla.DefinitionPatch](w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		cur, err := s.Store.GetDefinition(r.Context(), r.PathValue("ref"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.authorize(r, caller, "definition", cur.Owner, "change"); err != nil {
			s.fail(w, r, err)
			return
		}
		next := patch.Apply(cur)
		next.Normalize()
		if err := s.validDefinition(next); err != nil {
			s.fail(w, r, err)
			return
		}
		if reflect.DeepEqual(next, cur) {
			encode(w, http.StatusOK, cur) // nothing changed: no new revision
			return
		}
		next.Revision = cur.Revision + 1
		next.UpdatedAt = s.NowFunc().UTC()
		updated, err := s.Store.UpdateDefinition(r.Context(), next)
		if err != nil {
			s.fail(w, r, s.blameAlias(r, err, next))
			return
		}
		encode(w, http.StatusOK, updated)
	})
}

func (s *server) handleDeleteDefinition() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		cur, err := s.Store.GetDefinition(r.Context(), r.PathValue("ref"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.authorize(r, caller, "definition", cur.Owner, "delete"); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.refuseIfScheduled(r, cur); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.Store.DeleteDefinition(r.Context(), r.PathValue("ref")); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// refuseIfScheduled answers 409 naming the schedules that launch the
// definition: deleting it would leave them firing into errors. Delete or
// repoint them first.
func (s *server) refuseIfScheduled(r *http.Request, d flotilla.Definition) error {
	if s.Schedules == nil {
		return nil
	}
	scheds, err := s.Schedules.UsingDefinition(r.Context(), d, 20)
	if err != nil || len(scheds) == 0 {
		return err
	}
	names := make([]string, len(scheds))
	for i, sc := range scheds {
		names[i] = sc.ID
		if sc.Name != "" {
			names[i] = fmt.Sprintf("%s (%s)", sc.ID, sc.Name)
		}
	}
	return flotilla.Conflict("definition", "schedules launch %s: %s; delete them or point them at another definition first", d.Alias, strings.Join(names, ", "))
}

func (s *server) handleGetRevision() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 1 {
			s.fail(w, r, flotilla.Invalid("n", "must be a revision number (1, 2, …)"))
			return
		}
		d, err := s.Store.GetDefinitionRevision(r.Context(), r.PathValue("ref"), n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.maskDefinition(r, caller, d))
	})
}

// blameAlias names the alias in a conflict when another definition holds
// it; a conflict for any other reason (a lost update race) stays as it is.
func (s *server) blameAlias(r *http.Request, err error, d flotilla.Definition) error {
	if !errors.Is(err, flotilla.ErrConflict) {
		return err
	}
	if other, gerr := s.Store.GetDefinition(r.Context(), d.Alias); gerr != nil || other.ID == d.ID {
		return err
	}
	return &fieldError{err, flotilla.FieldError{Field: "alias", Message: fmt.Sprintf("%q is taken by another definition", d.Alias)}}
}

func limitParam(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, flotilla.Invalid("limit", "must be a number from 1 to 500")
	}
	return n, nil
}

// validDefinition is the domain's validation, then the engine's.
func (s *server) validDefinition(d flotilla.Definition) error {
	if err := d.Validate(); err != nil {
		return err
	}
	// A parameters_schema makes the command a template: both are checked
	// now, so a launch never meets a schema or a template it cannot use.
	if err := params.CheckSchema(d.ParametersSchema); err != nil {
		return err
	}
	if err := params.CheckTemplate("command", d.Command, d.ParametersSchema); err != nil {
		return err
	}
	if s.CheckDefinition != nil {
		return s.CheckDefinition(d)
	}
	return nil
}
