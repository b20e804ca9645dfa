import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { ConfirmButton, ErrorNotice } from './common';

describe('ConfirmButton', () => {
  const setup = (onConfirm = vi.fn()) => {
    render(<ConfirmButton label="Delete" title="Delete it?" message="Gone for good." confirmLabel="Delete for good" onConfirm={onConfirm} />);
    return onConfirm;
  };

  it('is keyboard friendly: focus moves in, Tab stays in, Escape cancels and gives focus back', () => {
    const onConfirm = setup();
    const opener = screen.getByRole('button', { name: 'Delete' });
    fireEvent.click(opener);
    const dialog = screen.getByRole('alertdialog', { name: 'Delete it?' });
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Delete for good' }));
    fireEvent.keyDown(dialog, { key: 'Tab' });
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Cancel' }));
    fireEvent.keyDown(dialog, { key: 'Tab' });
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Delete for good' }));
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it('keeps the dialog open with the error when the action fails', async () => {
    setup(vi.fn().mockRejectedValue(new ApiError(409, 'Conflict', 'the run already finished')));
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete for good' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('the run already finished'));
    expect(screen.getByRole('alertdialog')).toBeTruthy();
  });
});

describe('ErrorNotice', () => {
  it('explains a missing thing and any thrown value', () => {
    const { rerender } = render(<ErrorNotice error={new ApiError(404, 'Not Found')} />);
    expect(screen.getByRole('alert').textContent).toContain('It may have been deleted');
    rerender(<ErrorNotice error="plain string" what="Loading" />);
    expect(screen.getByRole('alert').textContent).toBe('Loading: Something went wrongplain string');
  });
});
